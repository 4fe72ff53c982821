"""Images (issue 17): pull and unpack of one multi-layer image from a loopback
registry by minipod, by `podman pull` and by `skopeo copy` to a directory,
taking turns run by run; a second pull whose layers are all present; and a
pod's start from a 5-layer image beside the same pod from busybox.

The image is made here, offline: a busybox layer (so that it runs) and four
layers of the host's Python standard library (real files: ~4,000 of them,
compressible like a distribution's), gzip'd, pushed by skopeo to Debian's
docker-registry on 127.0.0.1 (private storage, stopped at the end).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import figures as fg
from benchmarks import manifests as mf
from benchmarks.config import Config
from benchmarks.execwatch import ExecWatcher
from benchmarks.harness import BenchError, Minipod, wait_until
from benchmarks.results import Comparison, Figure

REGISTRY = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# -- the registry ---------------------------------------------------------------------

@contextlib.contextmanager
def loopback_registry(work: Path) -> Iterator[str]:
    """docker-registry on 127.0.0.1:<free port>; yields host:port."""
    if not os.access(REGISTRY, os.X_OK) or shutil.which("skopeo") is None:
        raise BenchError("docker-registry and skopeo are not installed "
                         "(scripts/setup-host.sh deps)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work.mkdir(parents=True, exist_ok=True)
    config = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
              "storage": {"filesystem": {"rootdirectory": str(work / "storage")}},
              "http": {"addr": f"127.0.0.1:{port}", "secret": os.urandom(8).hex()}}
    (work / "config.json").write_text(json.dumps(config))
    log = open(work / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([REGISTRY, "serve", str(work / "config.json")], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port) or proc.poll() is not None, 15, "the registry")
        if proc.poll() is not None:
            raise BenchError(f"docker-registry exited: {(work / 'registry.log').read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# -- the image ------------------------------------------------------------------------

def _tar(add: Any) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        add(tf)
    return buf.getvalue()


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name:
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def bench_layers(smoke: bool) -> list[bytes]:
    """Five layer tars: busybox, then the standard library in four parts."""
    def busybox(tf: tarfile.TarFile) -> None:
        for name in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tf.addfile(info)
        tf.add(BUSYBOX, "bin/busybox", filter=_owned_by_root)
        for applet in ("sh", "sleep", "true", "cat"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(info)

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    entries = sorted(p for p in stdlib.iterdir() if p.name not in ("site-packages",
                                                                   "dist-packages"))
    if smoke:
        entries = [p for p in entries if p.is_file()][:40]
    parts = [entries[i::4] for i in range(4)]

    def part(paths: list[Path]) -> Any:
        def add(tf: tarfile.TarFile) -> None:
            for path in paths:
                tf.add(path, f"usr/lib/bench/{path.name}", filter=_owned_by_root)
        return add

    return [_tar(busybox)] + [_tar(part(p)) for p in parts]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout(path: Path, layers: list[bytes], tags: dict[str, dict[str, Any]]) -> int:
    """An OCI layout with one image per tag (same layers, its own config);
    returns the compressed size of the layers."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(data: bytes) -> dict[str, Any]:
        digest = _digest(data)
        (blobs / digest[7:]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    compressed = [gzip.compress(layer, compresslevel=6, mtime=0) for layer in layers]
    descriptors = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(c)}
                   for c in compressed]
    index = []
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64")
    for tag, config in tags.items():
        cfg = {"architecture": arch, "os": "linux", "config": config,
               "rootfs": {"type": "layers", "diff_ids": [_digest(x) for x in layers]}}
        cfg_blob = blob(json.dumps(cfg).encode())
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          **cfg_blob},
                               "layers": descriptors}).encode()
        index.append({"mediaType": OCI_MANIFEST, **blob(manifest),
                      "annotations": {"org.opencontainers.image.ref.name": tag}})
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": index}))
    return sum(len(c) for c in compressed)


def push(layout: Path, tag: str, target: str) -> None:
    out = subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                          f"oci:{layout}:{tag}", f"docker://{target}"],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise BenchError(f"skopeo copy to the registry: {out.stderr.strip()[-300:]}")


# -- the figures ------------------------------------------------------------------------

def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    begin = time.monotonic()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd="/")
    elapsed = (time.monotonic() - begin) * 1000
    if out.returncode != 0:
        raise BenchError(f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''}: "
                         f"{(out.stderr or out.stdout).strip()[-300:]}")
    return elapsed, out.stdout


def image_figures(mp: Minipod, watcher: ExecWatcher, cfg: Config, smoke: bool) -> list[Figure]:
    work = mp.work / "images-bench"
    layers = bench_layers(smoke)
    app = {"Cmd": ["sh"], "Env": ["PATH=/bin"]}
    size = write_layout(work / "layout", layers, {"v1": app, "v2": {**app, "Cmd": ["true"]}})
    unpacked = sum(len(x) for x in layers)
    runs = 2 if smoke else max(5, cfg.peer_runs)
    with loopback_registry(work / "registry") as host:
        ref = f"{host}/bench/app"
        push(work / "layout", "v1", f"{ref}:v1")
        push(work / "layout", "v2", f"{ref}:v2")
        figures = pull_figures(mp, work, ref, runs, size=size, unpacked=unpacked,
                               count=len(layers))
        figures += start_figures(mp, watcher, cfg, ref)
    return figures


def pull_figures(mp: Minipod, work: Path, ref: str, runs: int, *, size: int, unpacked: int,
                 count: int) -> list[Figure]:
    store = work / "store"
    env = dict(mp.env, MINIPOD_IMAGES=str(store))
    podman = _podman(mp.work / "pp")
    ours: list[float] = []
    theirs: list[float] = []
    skopeo: list[float] = []
    errors: dict[str, str] = {}
    try:
        for _ in range(runs):
            shutil.rmtree(store, ignore_errors=True)
            elapsed, _ = _timed(mp.command("image", "pull", "-q", "--tls-verify=false",
                                           f"{ref}:v1"), env)
            ours.append(elapsed)
            if isinstance(podman, str):
                errors.setdefault("podman", podman)
            else:
                try:
                    theirs.append(podman.timed_pull(f"{ref}:v1"))
                except Exception as e:
                    errors.setdefault("podman", str(e))
            target = work / "skopeo-dir"
            shutil.rmtree(target, ignore_errors=True)
            elapsed, _ = _timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                                 f"docker://{ref}:v1", f"dir:{target}"])
            skopeo.append(elapsed)
        shutil.rmtree(work / "skopeo-dir", ignore_errors=True)
        # present: the same image again, then another image with the same layers
        again, second = [], []
        fetched = []
        for _ in range(runs):
            elapsed, out = _timed(mp.command("image", "pull", "--result-json",
                                             "--tls-verify=false", f"{ref}:v1"), env)
            again.append(elapsed)
            fetched.append(json.loads(out.strip().splitlines()[-1])["fetched"])
            if second:  # v2's record goes, its layers (v1's too) stay
                _timed(mp.command("image", "rm", f"{ref}:v2"), env)
            elapsed, out = _timed(mp.command("image", "pull", "--result-json",
                                             "--tls-verify=false", f"{ref}:v2"), env)
            second.append(elapsed)
            fetched.append(json.loads(out.strip().splitlines()[-1])["fetched"])
    finally:
        if not isinstance(podman, str):
            podman.close()
    mb = f"{count} layers, {size / 1e6:.0f} MB gzip'd, {unpacked / 1e6:.0f} MB unpacked"
    pull = Figure(
        "image.pull", f"Pull and unpack an image ({mb}) from a loopback registry", "ms", ours,
        how="wall time of `minipod image pull` into an empty store (skopeo fetches, minipod "
            "unpacks each layer as it lands), taking turns run by run with the peer and the "
            "baseline",
        peer=Comparison("podman 4.3 pull (fetch and unpack into its overlay storage)", theirs,
                        error=errors.get("podman"), paired=True),
        baseline=Comparison("skopeo copy to a directory (fetch only, no unpack)", skopeo,
                            paired=True),
        extra={"compressed_bytes": size, "unpacked_bytes": unpacked, "layers": count})
    present = Figure(
        "image.pull.present", "Pull again: every layer present", "ms", again,
        how="`minipod image pull` of the same tag (the manifest is fetched, no blob) and of "
            "another image with the same layers (its config is fetched, no layer)",
        extra={"layer_blobs_fetched": fetched, "other_image_ms": second})
    if any(fetched):
        present.error = f"a pull with every layer present fetched layer blobs: {fetched}"
    return [pull, present]


def start_figures(mp: Minipod, watcher: ExecWatcher, cfg: Config, ref: str) -> list[Figure]:
    """A pod from the 5-layer image beside one from busybox, taking turns."""
    mp.cli("image", "pull", "-q", "--tls-verify=false", f"{ref}:v1")
    keeper = fg.start_keeper(mp, watcher)
    layered, busybox = [], []
    try:
        for i in range(max(cfg.runs, 3)):
            for image, samples in ((f"{ref}:v1", layered), (mf.IMAGE, busybox)):
                name = f"layers-{len(samples)}-{i}-{'b' if image == mf.IMAGE else 'l'}"
                manifest = mf.pod(name)
                manifest["spec"]["containers"][0]["image"] = image
                path = mp.write(f"{name}.yaml", mf.documents(manifest))
                begin, _end, last, pids = fg.start_pods(mp, watcher, path, [manifest])
                samples.append(fg.ms(last - begin))
                wait_until(lambda p=pids[name]: fg.trap_ready(p), 10, "the trap")
                fg.delete_pod(mp, name)
    finally:
        del keeper
        mp.stop_daemon()
    return [Figure("start.layers5", "Pod start, 1 container, from a 5-layer image", "ms",
                   layered, how="as start.one (`up -d` to the app's exec), the image pulled "
                   "before; the overlay has five lowerdirs",
                   baseline=Comparison("the same pod from the busybox image (1 layer)",
                                       busybox, paired=True))]


class _PodmanPull:
    """`podman pull` with the peers' private storage (benchmarks/peers.py)."""

    def __init__(self, work: Path) -> None:
        from benchmarks.peers import Podman

        self.podman = Podman(work)  # its --runroot must stay under 50 characters

    def timed_pull(self, ref: str) -> float:
        begin, end, _out = self.podman.timed("pull", "-q", "--tls-verify=false", ref)
        self.podman.run("rmi", "-af")
        return (end - begin) * 1000

    def close(self) -> None:
        self.podman.close()


def _podman(work: Path) -> _PodmanPull | str:
    from benchmarks.peers import podman_missing

    missing = podman_missing()
    if missing:
        return missing
    try:
        return _PodmanPull(work)
    except Exception as e:
        return f"podman could not be set up: {e}"


if __name__ == "__main__":  # pragma: no cover - run through benchmarks/run.py
    sys.exit("run: python -P benchmarks/run.py --only images")
