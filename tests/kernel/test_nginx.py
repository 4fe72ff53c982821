"""One real distribution image: Debian bookworm with nginx, made by mmdebstrap
from Debian's packages, pushed to a loopback registry as library/nginx, and
run with the Kubernetes docs' nginx manifest (examples/nginx.yaml) as it is:
`image: nginx:1.14.2` reaches the test registry through a registries.conf
rewrite of docker.io/library/nginx, the mirror set-up a host would use. It
answers HTTP inside its pod, and on its pod IP from the node once run with
the pod network.

The rootfs takes about a minute to make; it is kept in a fixed cache
directory ($MINIPOD_TEST_CACHE, default /var/cache/minipod-tests) under a
name keyed by its recipe, so later runs reuse it and a fresh CI machine
makes it once."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nettest import assert_netns_clean, in_netns, make_netns, pod_ip, remove_netns, stop_daemon
from ocibuild import Entry, Layout, add_tar_layer, d, entries_layer, f, image_of_layers, sym
from podtest import Minipod, assert_nothing_left, wait_for
from registry import Registry, registries_conf, registry_missing

pytestmark = [pytest.mark.root, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MIRROR = "http://deb.debian.org/debian"
RECIPE = {"suite": "bookworm", "variant": "minbase", "include": ["nginx"],
          "components": ["main"], "mirror": MIRROR}
PAGE = "hello from nginx in a minipod pod\n"
SITE = """server {
    listen 80 default_server;
    root /var/www/html;
    index index.html;
    location / { try_files $uri $uri/ =404; }
}
"""


def cache_dir() -> Path:
    return Path(os.environ.get("MINIPOD_TEST_CACHE", "/var/cache/minipod-tests"))


def nginx_rootfs() -> Path:
    """The rootfs tarball, made once per recipe (and mmdebstrap version and
    architecture), under a lock so parallel runs make it once."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    version = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    key = hashlib.sha256(json.dumps({**RECIPE, "arch": arch, "mmdebstrap": version},
                                    sort_keys=True).encode()).hexdigest()[:16]
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"nginx-{RECIPE['suite']}-{arch}-{key}.tar"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        partial = target.with_suffix(".partial")
        argv = ["mmdebstrap", "--quiet", f"--variant={RECIPE['variant']}",
                f"--include={','.join(RECIPE['include'])}",
                f"--components={','.join(RECIPE['components'])}", "--format=tar",
                str(RECIPE["suite"]), str(partial), MIRROR]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        os.rename(partial, target)
    return target


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = registry_missing() or (None if shutil.which("mmdebstrap")
                                     else "mmdebstrap is not installed")
    if missing:
        pytest.fail(missing)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.close()


def push_nginx(registry: Registry, work: Path) -> None:
    """library/nginx:1.14.2: the Debian rootfs, then a layer as the official
    image's Dockerfile would add (a page, a site, logs to stdout/stderr,
    Debian's own page whited out)."""
    layout = Layout(work / "nginx-layout")
    base = add_tar_layer(layout, nginx_rootfs(), "zstd")
    top = entries_layer(layout, [
        d("var"), d("var/www"), d("var/www/html"),
        Entry("var/www/html/.wh.index.nginx-debian.html"), f("var/www/html/index.html", PAGE),
        d("etc"), d("etc/nginx"), d("etc/nginx/sites-enabled"),
        Entry("etc/nginx/sites-enabled/.wh.default"),
        f("etc/nginx/sites-enabled/minipod", SITE),
        d("var/log"), d("var/log/nginx"),
        sym("var/log/nginx/access.log", "/dev/stdout"),
        sym("var/log/nginx/error.log", "/dev/stderr")])
    config = {"Cmd": ["nginx", "-g", "daemon off;"], "StopSignal": "SIGQUIT",
              "ExposedPorts": {"80/tcp": {}},
              "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64")
    layout.tag(image_of_layers(layout, [base, top], config, arch), "1.14.2")
    registry.push(layout.path, "1.14.2", "library/nginx:1.14.2")


def test_the_docs_nginx_pod_pulls_runs_and_answers_http(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    push_nginx(registry, tmp_path)
    conf = registries_conf(tmp_path / "registries.conf", [],
                           {"docker.io/library/nginx": f"{registry.host}/library/nginx"})
    monkeypatch.setenv("MINIPOD_REGISTRIES_CONF", str(conf))
    mp = Minipod(root=tmp_path / "state", images=tmp_path / "images", workdir=tmp_path)
    manifest = EXAMPLES / "nginx.yaml"
    try:
        validate = mp.run("validate", str(manifest))
        assert validate.returncode == 0
        assert "'nginx:1.14.2' is not present" in validate.stderr
        started = time.monotonic()
        out = mp.run("up", "-d", str(manifest), timeout=300)
        assert out.returncode == 0, out.stderr
        record = mp.wait_running("nginx", ["nginx"], timeout=300)
        pull_seconds = time.monotonic() - started
        events = [json.loads(line) for line in
                  (mp.root / "pods" / "default_nginx" / "events.jsonl").read_text().splitlines()]
        reasons = [(e["reason"], e["message"]) for e in events]
        assert ("Pulling", 'Pulling image "nginx:1.14.2"') in reasons
        assert any(r == "Pulled" and m.startswith('Successfully pulled image "nginx:1.14.2"')
                   for r, m in reasons)
        image_id = record["object"]["status"]["containerStatuses"][0]["imageID"]
        assert image_id.startswith("docker.io/library/nginx@sha256:")

        # HTTP inside the pod: from its network namespace (the host's static
        # busybox wget; nginx's image has no client)
        pause = record["pause"]["pid"]

        def fetch() -> str:
            got = subprocess.run(["nsenter", "-t", str(pause), "-n", "busybox", "wget", "-q",
                                  "-O", "-", "http://127.0.0.1:80/"], capture_output=True,
                                 text=True, timeout=10)
            return got.stdout if got.returncode == 0 else ""

        assert wait_for(fetch, 30, "nginx to answer") == PAGE
        # its access log goes to the container's stdout, as the official image's
        logs = wait_for(lambda: "GET / HTTP/1.1" in (s := mp.run("logs", "nginx").stdout) and s,
                        10, "the access log line")
        assert '"GET / HTTP/1.1" 200' in logs
        # nginx stops on the image's StopSignal (SIGQUIT: a graceful quit), not
        # on a SIGKILL after the 30 s grace period
        stop_started = time.monotonic()
        assert mp.run("delete", "pod", "nginx").returncode == 0
        assert time.monotonic() - stop_started < 15
        print(f"nginx: pull and start {pull_seconds:.1f}s")
        stop_daemon(mp)  # the next one runs with the pod network
        answers_on_its_address(mp, manifest)
    finally:
        mp.delete_leftover_pods()
    assert_nothing_left(mp)


def answers_on_its_address(mp: Minipod, manifest: Path) -> None:
    """With the pod network on (in a network namespace of the test's own,
    tests/support/nettest.py), the same pod from the image now stored
    answers HTTP on its pod IP from the node."""
    mp.netns = make_netns()
    try:
        out = mp.run("up", "-d", str(manifest))
        assert out.returncode == 0, out.stderr
        mp.wait_running("nginx", ["nginx"], timeout=60)
        ip = pod_ip(mp, "nginx")

        def fetch() -> str:
            got = in_netns(mp.netns or "", "busybox", "wget", "-q", "-O", "-",
                           f"http://{ip}/", check=False, timeout=10)
            return got.stdout if got.returncode == 0 else ""

        assert wait_for(fetch, 30, f"nginx to answer on {ip}") == PAGE
        assert mp.run("delete", "pod", "nginx").returncode == 0
        stop_daemon(mp)
        assert_netns_clean(mp.netns)
    finally:
        mp.delete_leftover_pods()
        stop_daemon(mp)
        remove_netns(mp.netns)
        mp.netns = None
