"""Images against a real registry (Debian's docker-registry on 127.0.0.1,
tests/support/registry.py): pulls with and without basic or token auth,
indexes, digests, what a layer keeps and what it refuses, the store's
sharing and its behaviour under concurrent and killed pulls, load, import
and the image verbs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocibuild import Entry, Layout, busybox_layer, d, f, hard, sym
from registry import Registry, registries_conf, registry_missing

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = registry_missing()
    if missing:
        pytest.fail(missing)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.close()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return tmp_path / "images"


def minipod(images: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, MINIPOD_IMAGES=str(images), **(env or {}))
    return subprocess.run([sys.executable, "-P", "-m", "minipod", *args], env=full,
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def pull(images: Path, ref: str, *extra: str, env: dict[str, str] | None = None
         ) -> dict[str, Any]:
    out = minipod(images, "image", "pull", "--result-json", *extra, ref, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def inspect(images: Path, ref: str) -> dict[str, Any]:
    out = minipod(images, "image", "inspect", ref)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]  # type: ignore[no-any-return]


def overlay_cat(lowerdirs: list[str], *commands: str) -> str:
    """Mount the image's lowerdirs (read-only, no upper) in a mount namespace
    of its own and run shell commands in the merged tree ($M)."""
    # (an empty bottom layer: without an upperdir overlayfs wants two lowers)
    script = ("M=$(mktemp -d) && E=$(mktemp -d) && mount -t overlay overlay -o lowerdir="
              + ":".join(lowerdirs) + ":$E $M && cd $M && " + " ; ".join(commands))
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_raw+ep


def semantic_layers() -> list[list[Entry]]:
    base = [d("etc"), f("etc/passwd", "root:x:0:0::/root:/bin/sh\nweb:x:101:102::/:/bin/false\n"),
            f("etc/group", "root:x:0:\nweb:x:102:\n"),
            d("data", uid=1000, gid=1001, mode=0o750), f("data/a", "a", uid=1000, gid=1001),
            d("cache"), f("cache/old", "old"), d("cache/sub"), f("cache/sub/x", "x"),
            f("gone", "gone"), f("replaced", "v1"),
            f("bin/ping", "elf", 0o755, xattrs={"security.capability": CAPABILITY}),
            f("suid", "s", 0o4755), f("sgid", "g", 0o2755), d("sticky", 0o1777),
            hard("suid-link", "suid"), sym("abs-link", "/etc/passwd"),
            sym("rel-link", "../etc/group"), f("tagged", "t", xattrs={"user.origin": b"test"}),
            Entry("dev-null", "chr"), Entry("pipe", "fifo", mode=0o600)]
    middle = [Entry(".wh.gone"), d("cache"), Entry("cache/.wh..wh..opq"), f("cache/new", "new"),
              f("replaced", "v2"), Entry(".wh.not-there")]
    top = [f("top", "zstd"), sym("gone", "now-a-link")]
    return [base, middle, top]


def test_a_pulled_image_keeps_what_its_layers_say(registry: Registry, images: Path,
                                                 tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    desc = layout.image(semantic_layers(), {"Cmd": ["sh"]}, ["gzip", "none", "zstd"])
    layout.tag(desc, "v1")
    registry.push(layout.path, "v1", "test/semantics:v1")

    result = pull(images, f"{registry.host}/test/semantics:v1", "--tls-verify=false")
    assert result["ok"], result
    assert result["fetched"] == 3 and result["size"] > 0
    info = inspect(images, f"{registry.host}/test/semantics:v1")
    base, middle, top = (Path(p) for p in info["layerDirs"])

    # ownership, modes with setuid/setgid/sticky, hard links, symlinks, xattrs
    st = os.lstat(base / "data")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o750)
    assert stat.S_IMODE(os.lstat(base / "suid").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(base / "sgid").st_mode) == 0o2755
    assert stat.S_IMODE(os.lstat(base / "sticky").st_mode) == 0o1777
    assert os.lstat(base / "suid").st_ino == os.lstat(base / "suid-link").st_ino
    assert os.readlink(base / "abs-link") == "/etc/passwd"
    assert os.readlink(base / "rel-link") == "../etc/group"
    assert os.getxattr(base / "tagged", "user.origin") == b"test"
    assert os.getxattr(base / "bin/ping", "security.capability") == CAPABILITY
    assert stat.S_ISFIFO(os.lstat(base / "pipe").st_mode)
    assert not os.path.lexists(base / "dev-null")  # devices are not created
    assert os.lstat(base / "etc/passwd").st_mtime == 1_700_000_000
    # whiteouts and opaque directories in overlayfs' form
    wh = os.lstat(middle / "gone")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.lstat(middle / "not-there").st_rdev == 0  # a layer does not know what is below
    assert os.getxattr(middle / "cache", "trusted.overlay.opaque") == b"y"
    assert (top / "top").read_text() == "zstd"

    # and the overlay of them shows the image
    listing = overlay_cat(info["lowerdirs"], "ls -A cache", "cat replaced", "echo",
                          "readlink gone", "ls -A", "stat -c %a suid")
    lines = listing.split("\n")
    assert lines[0] == "new"  # the opaque directory hides old and sub/
    assert lines[1] == "v2"
    assert lines[2] == "now-a-link"
    assert "dev-null" not in lines[3] and "not-there" not in lines[3]
    assert lines[-2] == "4755"
    layer_json = json.loads((base.parent / "layer.json").read_text())
    assert layer_json["skippedDevices"] == ["dev-null"]
    assert [x["compression"] for x in (json.loads((p.parent / "layer.json").read_text())
                                       for p in (base, middle, top))] == ["gzip", "gzip", "zstd"]
    # (skopeo compresses an uncompressed layer on its way to a registry; plain
    # tars come in through load, test_load_docker_archive_oci_archive_and_layout)


def test_an_index_resolves_to_this_hosts_platform_and_digests_pin(
        registry: Registry, images: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    amd = layout.image([[f("arch", "amd64")]], arch="amd64")
    arm = layout.image([[f("arch", "arm64")]], arch="arm64", variant="v8")
    index = layout.multi([arm, amd])
    layout.tag(index, "multi")
    registry.push(layout.path, "multi", "test/multi:1", all_platforms=True)
    ref = f"{registry.host}/test/multi"

    result = pull(images, f"{ref}:1", "--tls-verify=false")
    assert result["digest"] == index["digest"]  # the repo digest is the index's
    info = inspect(images, f"{ref}:1")
    host_arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    assert overlay_cat(info["lowerdirs"], "cat arch") == host_arch
    assert f"{ref}@{index['digest']}" in info["repoDigests"]

    # by digest: the index's, or one platform's manifest
    by_index = pull(images, f"{ref}@{index['digest']}", "--tls-verify=false")
    assert by_index["ok"] and by_index["fetched"] == 0  # the same image, present
    other = arm if host_arch == "amd64" else amd
    pinned = pull(images, f"{ref}@{other['digest']}", "--tls-verify=false")
    assert pinned["ok"], pinned
    assert overlay_cat(inspect(images, f"{ref}@{other['digest']}")["lowerdirs"],
                       "cat arch") != host_arch
    wrong = pull(images, f"{ref}@sha256:{'0' * 64}", "--tls-verify=false")
    assert not wrong["ok"] and "manifest unknown" in wrong["error"]
    # another platform, asked for by name
    out = minipod(images, "image", "pull", "--tls-verify=false", "--platform", "linux/s390x",
                  f"{ref}:1")
    assert out.returncode == 1 and "no image for platform linux/s390x" in out.stderr


def test_docker_schema2_and_a_retry_while_the_registry_is_down(
        tmp_path_factory: pytest.TempPathFactory, images: Path, tmp_path: Path) -> None:
    reg = Registry(tmp_path_factory.mktemp("flaky"))
    try:
        layout = Layout(tmp_path / "layout")
        layout.tag(layout.image([[f("a", "a")], [f("b", "b")]], compression="gzip"), "v1")
        reg.push(layout.path, "v1", "test/schema2:v1", manifest_format="v2s2")
        reg.stop()
        # skopeo retries (--retry-times 3, after 1 s then 2 s): the registry
        # comes back while the pull waits
        pull_proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "minipod", "image", "pull", "--result-json",
             "--tls-verify=false", f"{reg.host}/test/schema2:v1"],
            env=dict(os.environ, MINIPOD_IMAGES=str(images)), stdout=subprocess.PIPE,
            text=True, cwd="/")
        try:
            time.sleep(0.5)
            reg.start()
            out = pull_proc.communicate(timeout=60)[0]
        finally:
            if pull_proc.poll() is None:
                pull_proc.kill()
                pull_proc.communicate()
        result = json.loads(out.strip().splitlines()[-1])
        assert result["ok"], result
        manifest = (images / "blobs" / "sha256" / result["digest"][7:]).read_text()
        assert json.loads(manifest)["mediaType"] == \
            "application/vnd.docker.distribution.manifest.v2+json"
        info = inspect(images, f"{reg.host}/test/schema2:v1")
        assert overlay_cat(info["lowerdirs"], "cat a b") == "ab"
    finally:
        reg.close()


def test_a_tag_that_is_not_there_is_an_error(registry: Registry, images: Path,
                                             tmp_path: Path) -> None:
    out = minipod(images, "image", "pull", "--tls-verify=false",
                  f"{registry.host}/test/none:1.28")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "manifest unknown" in last
    assert json.loads((images / "refs.json").read_text() if (images / "refs.json").exists()
                      else "{}") == {}


def test_plain_http_only_when_named(registry: Registry, images: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([[f("x", "x")]]), "v1")
    registry.push(layout.path, "v1", "test/http:v1")
    ref = f"{registry.host}/test/http:v1"
    refused = pull(images, ref)
    assert not refused["ok"] and "HTTP response to HTTPS client" in refused["error"]
    conf = registries_conf(tmp_path / "registries.conf", [registry.host])
    assert pull(images, ref, env={"MINIPOD_REGISTRIES_CONF": str(conf)})["ok"]


def test_a_second_pull_fetches_only_what_is_missing(registry: Registry, images: Path,
                                                    tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    base = [f(f"base{i}", os.urandom(2000)) for i in range(3)]
    layout.tag(layout.image([base, [f("one", "1")]]), "one")
    layout.tag(layout.image([base, [f("two", "2")]]), "two")
    for tag in ("one", "two"):
        registry.push(layout.path, tag, f"test/share:{tag}")
    ref = f"{registry.host}/test/share"
    first = pull(images, f"{ref}:one", "--tls-verify=false")
    assert first["fetched"] == 2
    again = pull(images, f"{ref}:one", "--tls-verify=false")
    assert (again["fetched"], again["present"]) == (0, True)
    second = pull(images, f"{ref}:two", "--tls-verify=false")
    assert second["fetched"] == 1  # the base layer is shared
    one, two = inspect(images, f"{ref}:one"), inspect(images, f"{ref}:two")
    assert one["layerDirs"][0] == two["layerDirs"][0]
    assert len(list((images / "layers").iterdir())) == 3


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("basic"), auth="basic")
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("token"), auth="token")
    yield reg
    reg.close()


def test_basic_auth_from_a_docker_config(basic_registry: Registry, images: Path,
                                         tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([[f("secret", "s")]]), "v1")
    basic_registry.push(layout.path, "v1", "team/app:v1")
    ref = f"{basic_registry.host}/team/app:v1"
    denied = pull(images, ref, "--tls-verify=false",
                  env={"REGISTRY_AUTH_FILE": str(tmp_path / "none.json")})
    assert not denied["ok"] and "unauthorized" in denied["error"].lower()
    authfile = basic_registry.authfile(tmp_path / "config.json")
    assert pull(images, ref, "--tls-verify=false", "--authfile", str(authfile))["ok"]
    # the docker config.json skopeo finds by itself ($REGISTRY_AUTH_FILE here)
    again = pull(images, ref, "--tls-verify=false", env={"REGISTRY_AUTH_FILE": str(authfile)})
    assert again["ok"]
    creds = f"{basic_registry.user}:{basic_registry.password}"
    assert pull(images, ref, "--tls-verify=false", "--creds", creds)["ok"]


def test_bearer_token_auth_anonymous_and_with_credentials(token_registry: Registry,
                                                          images: Path, tmp_path: Path) -> None:
    assert token_registry.token is not None
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([[f("x", "public")]]), "v1")
    token_registry.push(layout.path, "v1", "library/public:v1")
    token_registry.push(layout.path, "v1", "private/app:v1")
    none = {"REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    # anonymous: a token for pull, as Docker Hub gives one
    assert pull(images, f"{token_registry.host}/library/public:v1", "--tls-verify=false",
                env=none)["ok"]
    assert any(r["who"] is None and r["access"] and r["access"][0]["actions"] == ["pull"]
               for r in token_registry.token.requests)
    denied = pull(images, f"{token_registry.host}/private/app:v1", "--tls-verify=false",
                  env=none)
    assert not denied["ok"]
    authfile = token_registry.authfile(tmp_path / "auth.json")
    assert pull(images, f"{token_registry.host}/private/app:v1", "--tls-verify=false",
                "--authfile", str(authfile))["ok"]
    assert any(r["who"] == token_registry.user for r in token_registry.token.requests)


# -- hostile layers ---------------------------------------------------------------------

@pytest.mark.parametrize(("entries", "why"), [
    ([f("../escaped", "x")], "'..'"),
    ([d("a"), f("a/../../escaped", "x")], "'..'"),
    ([f("/escaped-abs", "x")], "absolute path"),
    ([sym("link", "{outside}"), f("link/pwned", "x")], "is a symlink"),
    ([sym("link", "{outside}"), d("link/sub")], "is a symlink"),
    ([sym("dir", "/"), hard("h", "dir/etc/passwd")], "is a symlink"),
    ([hard("h", "../../etc/passwd")], "'..'"),
    ([f("x", "x"), hard("h", "nowhere")], "not in this layer"),
])
def test_a_hostile_layer_is_refused_and_writes_nothing_outside(
        registry: Registry, images: Path, tmp_path: Path, entries: list[Entry],
        why: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for e in entries:
        e.link = e.link.replace("{outside}", str(outside))
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([[f("ok", "ok")], entries]), "bad")
    registry.push(layout.path, "bad", "test/hostile:bad")
    result = pull(images, f"{registry.host}/test/hostile:bad", "--tls-verify=false")
    assert not result["ok"]
    assert why in result["error"], result["error"]
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not Path("/escaped-abs").exists()
    # nothing half-made is left in use: the bad layer never landed (the good
    # one, unpacked beside it, may have finished or been stopped)
    layers = list((images / "layers").iterdir())
    assert len(layers) <= 1 and all((x / "layer.json").is_file() for x in layers)
    assert list((images / "tmp").iterdir()) == []
    assert json.loads((images / "refs.json").read_text() if (images / "refs.json").exists()
                      else "{}") == {}


def test_a_blob_whose_tar_is_not_its_diff_id_is_refused(images: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    desc = layout.image([[f("x", "x")]])
    manifest = json.loads((layout.path / "blobs/sha256" / desc["digest"][7:]).read_text())
    config_path = layout.path / "blobs/sha256" / manifest["config"]["digest"][7:]
    config = json.loads(config_path.read_text())
    config["rootfs"]["diff_ids"] = ["sha256:" + "1" * 64]  # a lie
    manifest["config"]["digest"] = layout.blob(json.dumps(config).encode())
    raw = json.dumps(manifest).encode()
    layout.tag({**desc, "digest": layout.blob(raw), "size": len(raw)}, "liar")
    out = minipod(images, "image", "load", "-i", str(layout.path))
    assert out.returncode != 0 and "diff_id mismatch" in out.stderr
    assert list((images / "layers").iterdir()) == []


# -- the store under concurrency and kills ------------------------------------------------

def big_layout(tmp_path: Path, mb: int = 48) -> Layout:
    layout = Layout(tmp_path / "layout")
    layers = [[f(f"big{i}", os.urandom(mb << 18))] for i in range(4)]  # incompressible
    layout.tag(layout.image(layers, compression="none"), "big")
    return layout


def test_concurrent_pulls_of_the_same_layers_are_safe(registry: Registry, images: Path,
                                                      tmp_path: Path) -> None:
    registry.push(big_layout(tmp_path, 8).path, "big", "test/concurrent:big")
    ref = f"{registry.host}/test/concurrent:big"
    env = dict(os.environ, MINIPOD_IMAGES=str(images))
    procs = [subprocess.Popen([sys.executable, "-P", "-m", "minipod", "image", "pull",
                               "--result-json", "--tls-verify=false", ref], env=env,
                              stdout=subprocess.PIPE, text=True, cwd="/") for _ in range(3)]
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(r["ok"] for r in results), results
    assert len({r["id"] for r in results}) == 1
    layers = list((images / "layers").iterdir())
    assert len(layers) == 4 and all((x / "layer.json").is_file() for x in layers)
    assert list((images / "tmp").iterdir()) == []


def test_a_killed_pull_leaves_nothing_half_made_in_use(registry: Registry, images: Path,
                                                       tmp_path: Path) -> None:
    registry.push(big_layout(tmp_path).path, "big", "test/killed:big")
    ref = f"{registry.host}/test/killed:big"
    env = dict(os.environ, MINIPOD_IMAGES=str(images))
    proc = subprocess.Popen([sys.executable, "-P", "-m", "minipod", "image", "pull", "-q",
                             "--tls-verify=false", ref], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd="/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            p.name.startswith("layer-") for p in (images / "tmp").glob("*") if p.is_dir()):
        time.sleep(0.005)  # until an unpack is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)  # skopeo dies with it (PR_SET_PDEATHSIG)
    assert not [p for p in (images / "layers").iterdir() if not (p / "layer.json").is_file()]
    assert not (images / "refs.json").exists() or json.loads((images / "refs.json")
                                                              .read_text()) == {}
    assert minipod(images, "image", "ls", "-q").stdout == ""
    leftovers = list((images / "tmp").iterdir())
    assert leftovers  # what the killed pull was writing
    result = pull(images, ref, "--tls-verify=false")
    assert result["ok"], result
    assert list((images / "tmp").iterdir()) == []  # cleaned by the next pull


# -- load, import and the verbs ------------------------------------------------------------

def test_load_docker_archive_oci_archive_and_layout(images: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layout.tag(layout.image([busybox_layer(), [f("hello", "loaded")]],
                            {"Cmd": ["cat", "/hello"]}), "v1")
    archives = {"docker-archive": tmp_path / "docker.tar", "oci-archive": tmp_path / "oci.tar"}
    for transport, path in archives.items():
        name = "example.com/loaded/docker:1" if transport == "docker-archive" else "v1"
        out = subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout.path}:v1",
                              f"{transport}:{path}:{name}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    out = minipod(images, "image", "load", "-i", str(archives["docker-archive"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Loaded image: example.com/loaded/docker:1\n"
    out = minipod(images, "image", "load", "-i", str(archives["oci-archive"]))
    assert out.returncode == 0 and out.stdout.startswith("Loaded image: sha256:"), out
    # a layout whose ref.name is a whole reference names the image
    named = Layout(tmp_path / "named")
    named.tag(named.image([[f("n", "n")]]), "docker.io/library/named:2")
    out = minipod(images, "image", "load", "-i", str(named.path))
    assert out.stdout == "Loaded image: docker.io/library/named:2\n", out
    docker_id = inspect(images, "example.com/loaded/docker:1")["id"]
    assert out.returncode == 0
    # docker-archive and OCI archive of the same image: the same image id (config)
    assert minipod(images, "image", "ls", "-q", "--no-trunc").stdout.count(docker_id) == 1
    bad = minipod(images, "image", "load", "-i", str(tmp_path / "layout" / "oci-layout"))
    assert bad.returncode != 0 and "not an image archive" in bad.stderr


def test_import_tag_ls_inspect_rm_prune_df(images: Path, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "motd").write_text("imported\n")
    subprocess.run(["tar", "-C", str(rootfs), "-czf", str(tmp_path / "rootfs.tgz"), "."],
                   check=True)
    out = minipod(images, "image", "import", "-c", 'CMD ["cat", "/etc/motd"]',
                  str(tmp_path / "rootfs.tgz"), "local/motd:1")
    assert out.returncode == 0, out.stderr
    image_id = out.stdout.strip()
    assert minipod(images, "image", "tag", "local/motd:1", "motd", "motd:2").returncode == 0
    ls = minipod(images, "image", "ls").stdout.splitlines()
    assert ls[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    rows = {tuple(line.split()[:3]) for line in ls[1:]}
    short = image_id[7:20]
    assert rows == {("docker.io/library/motd", "2", short),
                    ("docker.io/library/motd", "latest", short),
                    ("docker.io/local/motd", "1", short)}
    info = inspect(images, short)
    assert info["config"]["config"]["Cmd"] == ["cat", "/etc/motd"]
    assert info["origin"] == "import"
    assert overlay_cat(info["lowerdirs"], "cat etc/motd") == "imported\n"
    # rm of one of several names only untags
    out = minipod(images, "image", "rm", "motd:2")
    assert out.stdout == "Untagged: docker.io/library/motd:2\n"
    df = minipod(images, "image", "df").stdout
    assert "layers (unpacked)" in df and "blobs (as pulled)" in df
    out = minipod(images, "image", "rm", image_id)
    assert out.returncode == 0 and f"Deleted: {image_id}" in out.stdout
    assert list((images / "layers").iterdir()) == []  # unused layers and blobs go too
    assert list((images / "blobs" / "sha256").iterdir()) == []
    missing = minipod(images, "image", "rm", "motd")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert minipod(images, "image", "prune").returncode == 0


def test_many_layers_are_merged_to_fit_one_overlay_mount(images: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layers = [[f(f"f{i}", str(i)), f("last", str(i))] for i in range(70)]
    layers[1].append(Entry(".wh.f0"))  # a whiteout inside the merged part
    layout.tag(layout.image(layers, compression="none"), "docker.io/library/deep:1")
    assert minipod(images, "image", "load", "-i", str(layout.path)).returncode == 0
    info = inspect(images, "deep:1")
    assert len(info["layerDirs"]) == 70
    lowers = info["lowerdirs"]
    assert 1 < len(lowers) < 70
    assert len(":".join(lowers)) <= 3000
    assert lowers[-1].startswith(str(images / "chains"))
    merged = overlay_cat(lowers, "cat last", "echo", "ls | wc -l", "test -e f0 || echo gone")
    assert merged.split("\n")[:3] == ["69", "70", "gone"]  # f1..f69 and last


def test_build_busybox_is_an_image_like_any_other(images: Path) -> None:
    out = minipod(images, "image", "build-busybox")
    assert out.returncode == 0, out.stderr
    info = inspect(images, "busybox")
    assert info["origin"] == "build"
    assert "docker.io/library/busybox:latest" in info["repoTags"]
    rootfs = Path(info["layerDirs"][0])
    assert (rootfs / "bin" / "busybox").is_file()
    assert os.readlink(rootfs / "bin" / "sh") == "/bin/busybox"
    assert stat.S_IMODE(os.lstat(rootfs / "tmp").st_mode) == 0o1777
    # built again: the same layer (fixed times and owners), nothing new
    before = sorted(p.name for p in (images / "layers").iterdir())
    assert minipod(images, "image", "build-busybox").returncode == 0
    assert sorted(p.name for p in (images / "layers").iterdir()) == before
