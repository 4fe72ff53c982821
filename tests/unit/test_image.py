"""minipod.kernel.image: reference parsing, the local store, and the busybox image."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from minipod.api.errors import ImageError, SpecError
from minipod.kernel.image import (
    DEFAULT_PATH,
    build_busybox,
    list_images,
    parse_reference,
    resolve,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("busybox:latest", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        ("library/busybox:1.36", ("busybox", "1.36")),
        ("docker.io/library/busybox:1.36", ("busybox", "1.36")),
        ("registry.k8s.io/busybox", ("busybox", "latest")),
        ("localhost:5000/foo/bar:v1", ("foo/bar", "v1")),
        ("localhost:5000/foo", ("foo", "latest")),
        ("localhost/foo:dev", ("foo", "dev")),
        ("quay.io/org/app", ("org/app", "latest")),
        ("org/app:2", ("org/app", "2")),
        (f"busybox@{DIGEST}", ("busybox", "latest")),
        (f"busybox:1.36@{DIGEST}", ("busybox", "1.36")),
        (f"registry.k8s.io/pause:3.9@{DIGEST}", ("pause", "3.9")),
    ],
)
def test_parse_reference(ref: str, expected: tuple[str, str]) -> None:
    assert parse_reference(ref) == expected


# ---------------------------------------------------------------------------
# a fake store
# ---------------------------------------------------------------------------


def _store_image(root: Path, repo: str, tag: str, config: dict[str, Any] | None = None) -> Path:
    directory = root / repo / tag
    (directory / "rootfs" / "bin").mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config or {"Cmd": ["sh"]}))
    return directory


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    monkeypatch.setenv("MINIPOD_IMAGES", str(root))
    return root


def test_resolve_exact_tag(store: Path) -> None:
    _store_image(store, "busybox", "latest")
    stored = _store_image(
        store,
        "busybox",
        "1.36",
        {
            "Entrypoint": ["/bin/tini", "--"],
            "Cmd": ["sh", "-c", "echo hi"],
            "Env": ["PATH=/bin", "EQ=a=b", "NOVALUE"],
            "WorkingDir": "/srv",
        },
    )
    image = resolve("docker.io/library/busybox:1.36")
    assert image.ref == "docker.io/library/busybox:1.36"
    assert image.name == "busybox:1.36"
    assert image.rootfs == stored / "rootfs"
    assert image.entrypoint == ("/bin/tini", "--")
    assert image.cmd == ("sh", "-c", "echo hi")
    assert image.env == (("PATH", "/bin"), ("EQ", "a=b"))  # "NOVALUE" has no '=': dropped
    assert image.working_dir == "/srv"
    assert image.warnings == ()


def test_resolve_defaults_of_a_sparse_config(store: Path) -> None:
    _store_image(store, "bare", "latest", {"Cmd": None, "Env": None})
    image = resolve("bare")
    assert (image.entrypoint, image.cmd, image.env, image.working_dir) == ((), (), (), "/")


def test_resolve_nested_repository(store: Path) -> None:
    _store_image(store, "org/app", "v1")
    image = resolve("quay.io/org/app:v1")
    assert image.name == "org/app:v1"
    assert image.rootfs == store / "org" / "app" / "v1" / "rootfs"


def test_resolve_unknown_tag_falls_back_to_latest_with_a_warning(store: Path) -> None:
    _store_image(store, "busybox", "latest")
    image = resolve("busybox:9.9")
    assert image.name == "busybox:latest"
    assert image.rootfs == store / "busybox" / "latest" / "rootfs"
    assert len(image.warnings) == 1
    assert "9.9" in image.warnings[0]
    assert "busybox:latest" in image.warnings[0]


def test_resolve_digest_always_falls_back_to_latest(store: Path) -> None:
    _store_image(store, "busybox", "latest")
    _store_image(store, "busybox", "1.36")
    image = resolve(f"busybox:1.36@{DIGEST}")
    assert image.name == "busybox:latest"  # a digest cannot be checked locally
    assert len(image.warnings) == 1
    assert "digest" in image.warnings[0]


def test_resolve_unknown_repository_lists_stored_images(store: Path) -> None:
    _store_image(store, "busybox", "latest")
    _store_image(store, "org/app", "v1")
    with pytest.raises(ImageError) as info:
        resolve("nginx:1.25", "spec.containers[0].image")
    message = str(info.value)
    assert message.startswith("spec.containers[0].image: ")
    assert "'nginx:1.25'" in message
    assert "busybox:latest" in message
    assert "org/app:v1" in message
    assert isinstance(info.value, SpecError)  # the CLI's "bad input" exit code


def test_resolve_unknown_tag_without_latest_is_an_error(store: Path) -> None:
    _store_image(store, "busybox", "1.36")
    with pytest.raises(ImageError, match=r"busybox:1\.36"):
        resolve("busybox:1.35")


def test_resolve_in_an_empty_store_says_how_to_build(store: Path) -> None:
    with pytest.raises(ImageError, match="build-busybox"):
        resolve("busybox")


def test_list_images(store: Path) -> None:
    _store_image(store, "busybox", "latest")
    _store_image(store, "busybox", "1.36")
    _store_image(store, "org/app", "v1")
    (store / "broken" / "latest").mkdir(parents=True)  # no rootfs, no config
    (store / "broken" / "latest" / "config.json").write_text("{}")
    assert list_images() == [("busybox", "1.36"), ("busybox", "latest"), ("org/app", "v1")]


def test_list_images_of_a_missing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOD_IMAGES", str(tmp_path / "nowhere"))
    assert list_images() == []


# ---------------------------------------------------------------------------
# path images
# ---------------------------------------------------------------------------


def test_plain_directory_is_an_image_that_runs_sh(tmp_path: Path) -> None:
    image = resolve(str(tmp_path))
    assert image.rootfs == tmp_path
    assert image.name == str(tmp_path)
    assert image.cmd == ("sh",)
    assert image.entrypoint == ()


def test_path_with_config_is_loaded_like_a_stored_image(tmp_path: Path) -> None:
    directory = _store_image(tmp_path, "img", "t", {"Entrypoint": ["/app"], "WorkingDir": "/w"})
    image = resolve(str(directory))
    assert image.rootfs == directory / "rootfs"
    assert image.entrypoint == ("/app",)
    assert image.working_dir == "/w"


@pytest.mark.parametrize("bad", [",", ":", "\\"])
def test_path_unsafe_for_overlayfs_is_rejected(tmp_path: Path, bad: str) -> None:
    directory = tmp_path / f"a{bad}b"
    directory.mkdir()
    with pytest.raises(ImageError, match="may not contain"):
        resolve(str(directory), "spec.containers[1].image")


def test_path_that_is_not_a_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a directory"):
        resolve(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ImageError, match="not a directory"):
        resolve(str(tmp_path / "file"))


# ---------------------------------------------------------------------------
# build_busybox
# ---------------------------------------------------------------------------


def _static_busybox() -> Path | None:
    path = Path("/bin/busybox")
    if not os.access(path, os.X_OK):
        return None
    head = path.read_bytes()[: 1 << 16]
    if b"/ld-linux" in head or b"/ld-musl" in head:
        return None
    return path


@pytest.mark.skipif(_static_busybox() is None, reason="no static /bin/busybox on this host")
def test_build_busybox(store: Path) -> None:
    busybox = _static_busybox()
    assert busybox is not None
    version = build_busybox(busybox)

    latest = store / "busybox" / "latest"
    rootfs = latest / "rootfs"
    assert (rootfs / "bin" / "busybox").is_file()
    assert not (rootfs / "bin" / "busybox").is_symlink()
    assert (rootfs / "bin" / "busybox").stat().st_mode & 0o777 == 0o755
    assert os.readlink(rootfs / "bin" / "sh") == "/bin/busybox"
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    for name in ("hosts", "hostname", "resolv.conf", "group"):
        assert (rootfs / "etc" / name).is_file()

    config = json.loads((latest / "config.json").read_text())
    assert config["Cmd"] == ["sh"]
    assert config["Env"] == [f"PATH={DEFAULT_PATH}"]

    tags = {tag for repo, tag in list_images() if repo == "busybox"}
    assert "latest" in tags
    if version != "unknown":
        assert version in tags
    # the staging directory is gone
    assert [p.name for p in (store / "busybox").iterdir() if p.name.startswith(".")] == []

    image = resolve("busybox")
    assert image.cmd == ("sh",)
    assert image.env == (("PATH", DEFAULT_PATH),)


@pytest.mark.skipif(_static_busybox() is None, reason="no static /bin/busybox on this host")
def test_build_busybox_twice_replaces_the_tag(store: Path) -> None:
    busybox = _static_busybox()
    assert busybox is not None
    build_busybox(busybox)
    marker = store / "busybox" / "latest" / "rootfs" / "marker"
    marker.write_text("old")
    build_busybox(busybox)
    assert not marker.exists()
    assert (store / "busybox" / "latest" / "rootfs" / "bin" / "busybox").is_file()
