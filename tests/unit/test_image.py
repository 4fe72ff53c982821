"""minipod.kernel.image and the pure parts of the store: exact resolution
against a store written by hand (no unpack, no root), path images, reading
an image's files through its layers, the lowerdir plan for many layers,
import's --change, and the OCI documents (api/ociimage.py)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from minipod.api.errors import ImageError, SpecError
from minipod.api.ociimage import (
    ImageFormatError,
    Platform,
    UserError,
    choose_platform,
    host_platform,
    is_index,
    parse_config,
    parse_manifest,
    parse_stop_signal,
    platform_matches,
    resolve_user,
)
from minipod.kernel.archive import parse_changes
from minipod.kernel.image import list_images, lookup, read_image_file, resolve
from minipod.kernel.imagestore import ImageRecord, LayerRef, Store, chain_id, merge_plan

H = "sha256:" + "ab" * 32


def _digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


def stored_image(root: Path, names: list[str], config: dict, files: dict[str, str] | None = None,
                 *, layers: int = 1, origin: str = "registry") -> ImageRecord:
    """An image as the store keeps it, written by hand: config blob, layer
    dirs with layer.json, the record and the names."""
    st = Store(root)
    st.ensure()
    diff_ids = [_digest(10 + i + 16 * len(st.images())) for i in range(layers)]
    for i, diff_id in enumerate(diff_ids):
        diff = st.layer_dir(diff_id) / "diff"
        diff.mkdir(parents=True)
        (st.layer_dir(diff_id) / "layer.json").write_text(json.dumps({"link": ""}))
        if i == layers - 1:
            for path, text in (files or {}).items():
                (diff / path).parent.mkdir(parents=True, exist_ok=True)
                (diff / path).write_text(text)
    body = {"architecture": "amd64", "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    image_id = st.put_blob_bytes(json.dumps(body).encode())
    record = ImageRecord(image_id, [LayerRef(d, _digest(90 + i), "", 1000) for i, d in
                                    enumerate(diff_ids)], repo_digests=[], origin=origin)
    st.save_image(record)
    with st.refs_locked() as refs:
        for name in names:
            refs[name] = image_id
    return record


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "images"
    monkeypatch.setenv("MINIPOD_IMAGES", str(root))
    return root


def test_resolve_is_exact(store: Path) -> None:
    stored_image(store, ["docker.io/library/busybox:latest"], {"Cmd": ["sh"]})
    stored_image(store, ["docker.io/library/busybox:1.36"], {
        "Entrypoint": ["/bin/tini", "--"], "Cmd": ["sh", "-c", "echo hi"],
        "Env": ["PATH=/bin", "EQ=a=b", "NOVALUE"], "WorkingDir": "/srv"})
    image = resolve("busybox:1.36")
    assert image.name == "docker.io/library/busybox:1.36"
    assert image.entrypoint == ("/bin/tini", "--")
    assert image.cmd == ("sh", "-c", "echo hi")
    assert image.env == (("PATH", "/bin"), ("EQ", "a=b"))  # "NOVALUE" has no '='
    assert image.working_dir == "/srv"
    assert resolve("docker.io/library/busybox").cmd == ("sh",)
    # a tag that is not stored is an error, never another tag
    with pytest.raises(ImageError, match=r"busybox:1\.28") as info:
        resolve("busybox:1.28", "spec.containers[0].image")
    assert str(info.value).startswith("spec.containers[0].image: ")
    assert "docker.io/library/busybox:latest" in str(info.value)  # what is stored
    assert isinstance(info.value, SpecError)
    assert lookup("busybox:1.28") is None
    assert lookup(f"busybox@{H}") is None  # a digest resolves only to that digest


def test_resolve_by_digest(store: Path) -> None:
    record = stored_image(store, [f"docker.io/library/app@{H}", "docker.io/library/app:v1"],
                          {"Cmd": ["run"]})
    assert resolve(f"app@{H}").id == record.id
    assert resolve(f"app:v9@{H}").id == record.id  # the tag beside a digest is ignored


def test_bad_reference_is_bad_input(store: Path) -> None:
    with pytest.raises(ImageError, match="lowercase"):
        lookup("BusyBox/X", "spec.containers[0].image")


def test_in_an_empty_store_resolve_says_how_to_get_one(store: Path) -> None:
    with pytest.raises(ImageError, match=r"build-busybox.*pull"):
        resolve("busybox")


def test_user_and_stop_signal_from_the_image(store: Path) -> None:
    files = {"etc/passwd": "root:x:0:0::/root:/bin/sh\nnginx:x:101:101::/:/bin/false\n",
             "etc/group": "root:x:0:\nnginx:x:101:\nweb:x:33:\n"}
    stored_image(store, ["docker.io/library/a:1"], {"User": "nginx", "StopSignal": "SIGQUIT"},
                 files)
    stored_image(store, ["docker.io/library/b:1"], {"User": "nginx:web"}, files)
    stored_image(store, ["docker.io/library/c:1"], {"User": "1000"}, files)
    stored_image(store, ["docker.io/library/d:1"], {"User": "nobody"}, files)
    a = resolve("a:1")
    assert (a.uid, a.gid, a.stop_signal) == (101, 101, signal.SIGQUIT)
    b = resolve("b:1")
    assert (b.uid, b.gid) == (101, 33)
    c = resolve("c:1")
    assert (c.uid, c.gid) == (1000, None)  # the launcher takes passwd's group, else 0
    d = resolve("d:1")
    assert d.uid is None and "unable to find user nobody" in d.user_error


def test_read_image_file_takes_the_top_layer(store: Path, tmp_path: Path) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    (bottom / "etc").mkdir(parents=True)
    (bottom / "etc" / "passwd").write_text("bottom")
    (bottom / "etc" / "group").write_text("group")
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text("top")
    assert read_image_file((str(top), str(bottom)), "etc/passwd") == "top"
    assert read_image_file((str(top), str(bottom)), "/etc/group") == "group"
    (top / "etc" / "shadow").symlink_to("/etc/shadow")
    assert read_image_file((str(top), str(bottom)), "etc/shadow") is None  # not followed
    assert read_image_file((str(top), str(bottom)), "etc/none") is None


def test_list_images(store: Path) -> None:
    one = stored_image(store, ["docker.io/library/busybox:latest",
                               "docker.io/library/busybox:1.36"], {})
    two = stored_image(store, [], {})  # nameless
    rows = list_images()
    assert rows == [("docker.io/library/busybox:1.36", one), ("docker.io/library/busybox:latest",
                                                              one), ("<none>", two)]


# -- path images -----------------------------------------------------------------

def test_plain_directory_is_an_image_that_runs_sh(tmp_path: Path) -> None:
    image = resolve(str(tmp_path))
    assert image.lowers == (str(tmp_path),)
    assert image.cmd == ("sh",) and image.origin == "path"


def test_path_with_config_is_read_like_a_stored_image(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"Entrypoint": ["/app"],
                                                      "WorkingDir": "/w"}))
    image = resolve(str(tmp_path))
    assert image.lowers == (str(tmp_path / "rootfs"),)
    assert image.entrypoint == ("/app",) and image.working_dir == "/w"


@pytest.mark.parametrize("bad", [",", ":", "\\"])
def test_path_unsafe_for_overlayfs_is_rejected(tmp_path: Path, bad: str) -> None:
    directory = tmp_path / f"a{bad}b"
    directory.mkdir()
    with pytest.raises(ImageError, match="may not contain"):
        resolve(str(directory), "spec.containers[1].image")


def test_path_that_is_not_a_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a directory"):
        resolve(str(tmp_path / "missing"))


# -- many layers: the lowerdir plan ---------------------------------------------------

def test_merge_plan_keeps_what_fits_and_merges_the_bottom() -> None:
    assert merge_plan([40] * 10, 90, 3000, 500) == 0
    # 100 layers of 40 bytes do not fit 3000: the bottom ones are merged
    merged = merge_plan([40] * 100, 90, 3000, 500)
    assert merged > 1
    kept = 100 - merged
    assert (kept * 41 + 90) <= 3000 < ((kept + 1) * 41 + 90)
    assert merge_plan([10] * 600, 10, 100_000, 500) == 101  # at most 500 lowers: 499 + 1
    assert chain_id([H]) == H
    assert chain_id([H, _digest(1)]) != chain_id([_digest(1), H])


# -- import --change -------------------------------------------------------------------

def test_parse_changes() -> None:
    config = parse_changes(['CMD ["nginx", "-g", "daemon off;"]', "ENTRYPOINT /start",
                            "ENV A=1 B=2", "ENV C 3", "WORKDIR /srv", "USER 101:101",
                            "STOPSIGNAL SIGQUIT", "LABEL x=y"])
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/start"]
    assert config["Env"][1:] == ["A=1", "B=2", "C=3"] and config["Env"][0].startswith("PATH=")
    assert (config["WorkingDir"], config["User"], config["StopSignal"]) == (
        "/srv", "101:101", "SIGQUIT")
    assert config["Labels"] == {"x": "y"}
    with pytest.raises(ImageError, match="RUN is not one of"):
        parse_changes(["RUN true"])


# -- OCI documents -------------------------------------------------------------------

def _index(*platforms: tuple[str, str, str]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType":
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "manifests": [{"mediaType": "application/vnd.docker.distribution."
                                      "manifest.v2+json", "digest": _digest(i), "size": 1,
                                      "platform": {"os": o, "architecture": a, "variant": v}}
                                     for i, (o, a, v) in enumerate(platforms)]}).encode()


def test_index_resolves_to_the_host_platform() -> None:
    raw = _index(("unknown", "unknown", ""), ("linux", "arm", "v7"), ("linux", "arm64", "v8"),
                 ("linux", "amd64", ""))
    assert is_index(raw)
    assert choose_platform(raw, host_platform("x86_64")).digest == _digest(3)
    assert choose_platform(raw, host_platform("aarch64")).digest == _digest(2)
    assert choose_platform(raw, host_platform("armv7l")).digest == _digest(1)
    with pytest.raises(ImageFormatError, match=r"linux/s390x.*linux/arm/v7, linux/arm64/v8"):
        choose_platform(raw, host_platform("s390x"))


def test_platform_variants() -> None:
    assert platform_matches(Platform("linux", "arm64", "v8"), Platform("linux", "arm64", ""))
    assert platform_matches(Platform("linux", "arm64", ""), Platform("linux", "arm64", "v8"))
    assert not platform_matches(Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"))
    assert not platform_matches(Platform("linux", "amd64"), Platform("windows", "amd64"))


def test_manifests_schema2_and_oci() -> None:
    layer = {"digest": H, "size": 3}
    for media, layer_type in (
            ("application/vnd.docker.distribution.manifest.v2+json",
             "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            ("application/vnd.oci.image.manifest.v1+json",
             "application/vnd.oci.image.layer.v1.tar+zstd")):
        raw = json.dumps({"schemaVersion": 2, "mediaType": media,
                          "config": {"mediaType": "x", "digest": H, "size": 1},
                          "layers": [{**layer, "mediaType": layer_type}]}).encode()
        manifest = parse_manifest(raw)
        assert manifest.media_type == media and manifest.layers[0].size == 3
    with pytest.raises(ImageFormatError, match="not an image layer"):
        parse_manifest(json.dumps({"schemaVersion": 2, "mediaType":
                                   "application/vnd.oci.image.manifest.v1+json",
                                   "config": {"digest": H, "size": 1},
                                   "layers": [{**layer, "mediaType": "application/x-helm"}]})
                       .encode())
    with pytest.raises(ImageFormatError, match=r"schema1|unsupported"):
        parse_manifest(json.dumps({"schemaVersion": 1, "fsLayers": []}).encode())
    with pytest.raises(ImageFormatError, match="digest"):
        parse_manifest(json.dumps({"schemaVersion": 2, "config": {"digest": "md5:x", "size": 1},
                                   "layers": []}).encode())


def test_config() -> None:
    config = parse_config(json.dumps({"config": {"Env": ["A=1"], "User": "x",
                                                 "StopSignal": "SIGQUIT"},
                                      "rootfs": {"diff_ids": [H]}}).encode())
    assert config.diff_ids == (H,) and config.env == (("A", "1"),)
    with pytest.raises(ImageFormatError, match="rootfs"):
        parse_config(b'{"config": {}}')


@pytest.mark.parametrize(("text", "signo"), [("SIGQUIT", signal.SIGQUIT), ("quit", signal.SIGQUIT),
                                             ("15", 15), ("SIGRTMIN+3", signal.SIGRTMIN + 3)])
def test_stop_signal(text: str, signo: int) -> None:
    assert parse_stop_signal(text) == signo


def test_bad_stop_signal() -> None:
    for text in ("SIGNOPE", "0", "99", "SIGRTMAX+1"):
        with pytest.raises(ValueError, match="invalid signal"):
            parse_stop_signal(text)


def test_resolve_user() -> None:
    passwd = "root:x:0:0::/:/bin/sh\nweb:x:33:34::/:/bin/false\n"
    group = "root:x:0:\nweb:x:34:\nwheel:x:10:\n"
    assert resolve_user("0", passwd, group) == (0, None)
    assert resolve_user("web", passwd, group) == (33, 34)
    assert resolve_user("web:wheel", passwd, group) == (33, 10)
    assert resolve_user("1000:1000", None, None) == (1000, 1000)
    assert resolve_user("1000:wheel", passwd, group) == (1000, 10)
    with pytest.raises(UserError, match="unable to find user app"):
        resolve_user("app", passwd, group)
    with pytest.raises(UserError, match="unable to find group staff"):
        resolve_user("web:staff", passwd, group)


def test_store_ids_and_tmp(tmp_path: Path) -> None:
    st = Store(tmp_path / "s")
    with st.scratch("x") as work:
        assert work.is_dir()
        # a dead process's leftovers are removed, a live one's kept
        (st.tmp / "dead-1").mkdir()
        (st.tmp / "dead-1.lock").touch()
        assert st.clean_tmp() == ["dead-1"]
        assert work.is_dir()
    assert list(st.tmp.iterdir()) == []
    assert os.stat(st.root).st_mode & 0o777 == 0o700
