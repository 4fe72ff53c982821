"""Pulling an image from a registry: skopeo fetches, minipod unpacks.

The transport is skopeo (Debian's package, containers/image inside): the
OCI distribution protocol, Docker Hub's and any registry's bearer-token and
basic auth, credentials from --authfile or the docker config.json files it
looks for ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
~/.docker/config.json), containers-registries.conf(5) (insecure registries,
mirrors and rewrites: /etc/containers/registries.conf or
$MINIPOD_REGISTRIES_CONF), retries, parallel blob downloads, and every blob
checked against its digest before it lands. README says why skopeo, with
the figures.

A pull:
1. `skopeo inspect --raw` the reference: the registry's manifest or index,
   whose sha256 is the repo digest (an index resolves to this host's
   platform here, in api/ociimage.py, not in skopeo);
2. if the store has that image with all its layers, only the names change
   (an Always pull of an unchanged image downloads no blob);
3. else the config as the registry serves it (`inspect --raw --config`:
   skopeo rewrites a Docker schema2 config on its way into an OCI layout),
   then `skopeo copy` into an OCI layout under tmp/ whose blobs go straight
   into the store's blobs/ (--dest-shared-blob-dir): a blob the store has is
   not downloaded again. Each layer is unpacked as soon as its blob lands,
   while skopeo fetches the others;
4. commit_image: the record, then the names.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from minipod.api import imageref
from minipod.api.errors import MinipodError
from minipod.api.ociimage import (
    ImageFormatError,
    Manifest,
    Platform,
    choose_platform,
    host_platform,
    is_index,
    parse_config,
    parse_manifest,
)
from minipod.kernel import sys as msys
from minipod.kernel.archive import commit_image
from minipod.kernel.imagestore import ImageRecord, LayerRef, Store, sha256_bytes
from minipod.kernel.spawn import Child

SKOPEO = "skopeo"
RETRIES = 3
POLL = 0.01  # seconds between looks at the blobs skopeo has landed (a stat each)


@dataclass
class PullOptions:
    tls_verify: bool = True  # False: plain http or unverified TLS (--tls-verify=false)
    authfile: str | None = None  # a docker config.json; None: skopeo's own search
    creds: str | None = None  # USER:PASSWORD
    platform: Platform = field(default_factory=lambda: host_platform(platform.machine()))
    retries: int = RETRIES


@dataclass
class PullResult:
    record: ImageRecord
    name: str  # the key the reference is stored under
    digest: str  # the repo digest (of the manifest or index the registry gave)
    seconds: float
    downloaded: int  # bytes of layer blobs fetched by this pull
    fetched: int  # layer blobs fetched by this pull
    present: bool  # the image was stored already; nothing was fetched

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "id": self.record.id, "name": self.name, "digest": self.digest,
                "size": self.record.size, "seconds": self.seconds,
                "downloaded": self.downloaded, "fetched": self.fetched,
                "present": self.present}


class PullError(MinipodError):
    """A pull that failed (exit 1, not 2: the reference may be fine); the
    message is skopeo's, without its log decoration."""


def _skopeo(tmpdir: Path | None = None) -> list[str]:
    """skopeo and its global options: a registries.conf of minipod's own
    ($MINIPOD_REGISTRIES_CONF; skopeo 1.9 reads no environment variable for
    it), and where its temporary files go (our tmp/, removed with the pull)."""
    argv = [SKOPEO]
    conf = os.environ.get("MINIPOD_REGISTRIES_CONF")
    if conf:
        argv.append(f"--registries-conf={conf}")
    if tmpdir is not None:
        argv.append(f"--tmpdir={tmpdir}")
    return argv


def _common(opts: PullOptions, *, copy: bool) -> list[str]:
    prefix = "src-" if copy else ""
    args = [f"--retry-times={opts.retries}"]
    if not opts.tls_verify:
        args.append(f"--{prefix}tls-verify=false")
    if opts.authfile:
        args.append(f"--{prefix}authfile={opts.authfile}")
    if opts.creds:
        args.append(f"--{prefix}creds={opts.creds}")
    return args


def _die_with_parent() -> None:
    # a pull killed half-way must not leave skopeo fetching (pdeathsig goes
    # with the thread that forked: this process has only the one)
    msys.set_pdeathsig(signal.SIGKILL)


def _message(stderr: str) -> str:
    """skopeo's error without its logrus decoration."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "skopeo failed"
    last = lines[-1]
    match = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    text = match.group(1).encode().decode("unicode_escape") if match else last
    text = text.removeprefix("Error: ")
    return re.sub(r'^Error parsing image name "[^"]*": ', "", text)


def inspect_raw(reference: str, opts: PullOptions, config: bool = False) -> bytes:
    """The manifest (or index) as the registry serves it; ``config``: the
    image's config blob, as served (skopeo copy into an OCI layout rewrites
    a Docker schema2 config, so minipod fetches the original itself)."""
    what = ["--config"] if config else []
    try:
        out = subprocess.run([*_skopeo(), "inspect", "--raw", *what, *_common(opts, copy=False),
                              f"docker://{reference}"], capture_output=True,
                             preexec_fn=_die_with_parent, timeout=600,
                             pass_fds=_pass_fds(opts))
    except FileNotFoundError:
        raise PullError("skopeo is not installed (apt-get install skopeo)") from None
    except subprocess.TimeoutExpired:
        raise PullError(f"{reference}: the registry did not answer in 600 s") from None
    if out.returncode != 0:
        raise PullError(_message(out.stderr.decode("utf-8", "replace")))
    return out.stdout


def pull(st: Store, text: str, opts: PullOptions | None = None,
         display: Progress | None = None) -> PullResult:
    """Pull ``text`` into the store; PullError says why not."""
    opts = opts or PullOptions()
    display = display or Progress(quiet=True)
    try:
        ref = imageref.parse(text)
    except imageref.ReferenceError as e:
        raise PullError(str(e)) from None
    started = time.monotonic()
    source = str(ref.with_digest(ref.digest)) if ref.digest else ref.tagged
    top = inspect_raw(source, opts)
    digest = sha256_bytes(top)
    if ref.digest and digest != ref.digest:
        raise PullError(f"{text}: the registry's manifest has digest {digest}")
    try:
        manifest_raw, manifest_digest = top, digest
        if is_index(top):
            entry = choose_platform(top, opts.platform)
            manifest_digest = entry.digest
            manifest_raw = inspect_raw(str(ref.with_digest(entry.digest)), opts)
            if sha256_bytes(manifest_raw) != entry.digest:
                raise PullError(f"{text}: manifest {entry.digest} has another digest")
        manifest = parse_manifest(manifest_raw)
    except ImageFormatError as e:
        raise PullError(f"{text}: {e}") from None
    names = [ref.key]
    repo_digests = list(dict.fromkeys([f"{ref.name}@{digest}", f"{ref.name}@{manifest_digest}"]))
    with st.using():
        known = st.image(manifest.config.digest)
        present = known is not None and all(st.has_layer(x.diff_id) for x in known.layers)
        fetched = downloaded = 0
        if not present:
            if not st.has_blob(manifest.config.digest):
                config = inspect_raw(str(ref.with_digest(manifest_digest)), opts, config=True)
                if sha256_bytes(config) != manifest.config.digest:
                    raise PullError(f"{text}: the config is not {manifest.config.digest}")
                st.put_blob_bytes(config)
            fetched, downloaded = _copy(st, ref, manifest_digest, manifest, opts=opts,
                                        display=display)
        config_raw = st.read_blob(manifest.config.digest)
        display.finish()
        record = commit_image(st, config_raw, list(manifest.layers), names, "registry",
                              manifest_raw=manifest_raw, repo_digests=repo_digests)
    return PullResult(record, ref.key, digest, time.monotonic() - started, downloaded,
                      fetched, present)


def _copy(st: Store, ref: imageref.ImageRef, manifest_digest: str, manifest: Manifest, *,
          opts: PullOptions, display: Progress) -> tuple[int, int]:
    """skopeo copy into tmp/, unpacking each layer as its blob lands."""
    missing = [x for x in manifest.layers if not st.has_blob(x.digest)]
    fetched_bytes = sum(x.size for x in missing)
    diff_ids = parse_config(st.read_blob(manifest.config.digest)).diff_ids  # pull() fetched it
    if len(diff_ids) != len(manifest.layers):
        raise PullError(f"the config lists {len(diff_ids)} layers, the manifest "
                        f"{len(manifest.layers)}")
    display.start(manifest, st)
    with st.scratch("pull") as tmp:
        layout = tmp / "layout"
        argv = [*_skopeo(tmp), "copy", "--quiet", *_common(opts, copy=True),
                "--dest-oci-accept-uncompressed-layers",
                f"--dest-shared-blob-dir={st.blobs.parent}",
                f"docker://{ref.with_digest(manifest_digest)}", f"oci:{layout}:pull"]
        stderr = open(tmp / "skopeo.err", "w+b")  # noqa: SIM115 - read after the wait
        try:
            # (preexec_fn: this process has one thread)
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr,
                                    preexec_fn=_die_with_parent,  # noqa: PLW1509
                                    pass_fds=_pass_fds(opts))
        except FileNotFoundError:
            raise PullError("skopeo is not installed (apt-get install skopeo)") from None
        with _reaped(proc), _Unpackers(st) as unpackers:
            started: set[str] = set()
            while True:
                done = proc.poll() is not None
                for i, layer in enumerate(manifest.layers):
                    if layer.digest in started or not st.has_blob(layer.digest) \
                            or unpackers.full():
                        continue
                    started.add(layer.digest)
                    if st.has_layer(diff_ids[i]):
                        display.state(layer.digest, "done")
                        continue
                    unpackers.start(LayerRef(diff_ids[i], layer.digest, layer.media_type,
                                             layer.size))
                    display.state(layer.digest, "unpacking")
                for digest in unpackers.finished():
                    display.state(digest, "done")
                if done and (proc.returncode != 0 or len(started) == len(manifest.layers)):
                    break
                if done and not unpackers.running:
                    missing_blobs = [x.digest for x in manifest.layers
                                     if x.digest not in started and not st.has_blob(x.digest)]
                    if missing_blobs:  # never spin on a blob that will not come
                        raise PullError(f"skopeo finished without layer {missing_blobs[0]}")
                display.update(tmp)
                time.sleep(POLL)
            if proc.returncode != 0:
                stderr.seek(0)
                raise PullError(_message(stderr.read().decode("utf-8", "replace")))
            for digest in unpackers.wait_all():
                display.state(digest, "done")
        stderr.close()
    return len(missing), fetched_bytes


class _Unpackers:
    """Layers unpacked in parallel, one forked child each (at most one per
    CPU, four at most): an unpack is Python work, and an image's layers are
    independent (each has its own lock and directory). A child dies with
    this process (PR_SET_PDEATHSIG); what it leaves is a tmp/ directory whose
    lock is free."""

    def __init__(self, st: Store) -> None:
        self.st = st
        self.limit = max(1, min(os.cpu_count() or 1, 4))
        self.running: dict[int, tuple[str, int]] = {}  # pid -> (blob digest, error pipe)

    def __enter__(self) -> _Unpackers:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.running:
            return
        for pid, (_digest, fd) in self.running.items():  # an error elsewhere: stop them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
        self.running.clear()
        self.st.clean_tmp()  # what they were writing: their locks are free now

    def full(self) -> bool:
        return len(self.running) >= self.limit

    def start(self, layer: LayerRef) -> None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: unpack, report, _exit (no cleanup of the parent's)
            code = 0
            try:
                os.close(read_end)
                msys.set_pdeathsig(signal.SIGKILL)
                self.st.ensure_layer(layer)
            except BaseException as e:
                os.write(write_end, str(e).encode("utf-8", "replace")[:8000])
                code = 1
            os._exit(code)
        os.close(write_end)
        self.running[pid] = (layer.digest, read_end)

    def finished(self, block: bool = False) -> list[str]:
        """Digests of the layers done since the last call; PullError for a
        layer that was refused."""
        done = []
        for pid in list(self.running):
            reaped, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            if reaped == 0:
                continue
            digest, fd = self.running.pop(pid)
            message = os.read(fd, 8192).decode("utf-8", "replace")
            os.close(fd)
            if os.waitstatus_to_exitcode(status) != 0:
                raise PullError(message or f"unpacking layer {digest} failed")
            done.append(digest)
        return done

    def wait_all(self) -> list[str]:
        done = []
        while self.running:
            done += self.finished(block=True)
        return done


@contextlib.contextmanager
def _reaped(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# -- the progress display ----------------------------------------------------------

def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class Progress:
    """Per-layer lines a person can follow: on a terminal they are redrawn in
    place (with the bytes downloaded so far); elsewhere one line per change."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stderr
        self.quiet = quiet
        self.tty = self.out.isatty() and not quiet
        self.layers: list[tuple[str, int]] = []
        self.states: dict[str, str] = {}
        self.drawn = 0
        self.total = 0
        self.partial = 0
        self.last_draw = 0.0

    def start(self, manifest: Manifest, st: Store) -> None:
        self.layers = [(x.digest, x.size) for x in manifest.layers]
        self.total = sum(size for digest, size in self.layers if not st.has_blob(digest))
        for digest, _size in self.layers:
            present = st.has_blob(digest)
            self.states[digest] = "exists" if present else "downloading"
            if not self.tty and not self.quiet:
                self._line(digest)
        self._draw(force=True)

    def state(self, digest: str, state: str) -> None:
        if self.states.get(digest) == state:
            return
        self.states[digest] = state
        if not self.tty and not self.quiet:
            self._line(digest)
        self._draw(force=True)

    def update(self, tmp: Path) -> None:
        """Bytes so far: finished blobs, and skopeo's files still being written."""
        partial = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir(tmp / "layout"):
                if entry.name.startswith("oci-put-blob"):
                    partial += entry.stat().st_size
        self.partial = partial
        self._draw()

    def finish(self) -> None:
        self._draw(force=True)

    def _line(self, digest: str) -> None:
        size = dict(self.layers).get(digest, 0)
        print(f"{digest[7:19]}  {self.states[digest]:<11}  {_human(size)}", file=self.out,
              flush=True)

    def _draw(self, force: bool = False) -> None:
        if not self.tty or not self.layers:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        done = sum(size for digest, size in self.layers
                   if self.states.get(digest) in ("unpacking", "done"))
        fetched_now = min(self.total, done + self.partial)
        lines = [f"{d[7:19]}  {self.states.get(d, ''):<11}  {_human(s)}" for d, s in self.layers]
        lines.append(f"downloaded {_human(fetched_now)} of {_human(self.total)}")
        text = ("\x1b[F" * self.drawn) + "".join(f"\x1b[2K{line}\n" for line in lines)
        self.out.write(text)
        self.out.flush()
        self.drawn = len(lines)


def result_json(result: PullResult) -> str:
    return json.dumps(result.to_json())


# Where a pull child finds the credentials of a pod's imagePullSecrets: a
# memfd (never on disk, gone with the last process holding it) at this fd,
# read through /proc/self/fd by the child's skopeo, which inherits it.
AUTH_FD = 3
_INHERITED_AUTHFILE = re.compile(r"/proc/self/fd/(\d+)")


def spawn_pull(reference: str, auth: bytes | None = None) -> tuple[Child, int]:
    """Start `minipod image pull --result-json [--authfile F] REFERENCE` as a
    child of its own session: (the child, the read end of its stdout,
    non-blocking). It prints one JSON line (PullResult.to_json, or {"ok":
    false, "error": ...}) and exits. -P: the interpreter never imports
    minipod from the cwd. ``auth``: a docker config.json the pull uses
    instead of the host's files (AUTH_FD)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    auth_fd = -1
    try:
        file_actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, write_end, 1),
                        (os.POSIX_SPAWN_DUP2, devnull, 2)]
        options = []
        if auth is not None:
            auth_fd = os.memfd_create("minipod-pull-auth", os.MFD_CLOEXEC)
            _write_all(auth_fd, auth)
            # last: the fds above are in place before AUTH_FD may be taken
            # (dup2 clears FD_CLOEXEC in the child, also when the numbers match)
            file_actions.append((os.POSIX_SPAWN_DUP2, auth_fd, AUTH_FD))
            options.append(f"--authfile=/proc/self/fd/{AUTH_FD}")
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-P", "-m", "minipod", "image", "pull", "--result-json", *options,
             reference],
            dict(os.environ),
            file_actions=file_actions,
            setsid=True,
            # the supervisor's signal mask and dispositions are not the puller's
            setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGCHLD),
            setsigmask=(),
        )
    finally:
        os.close(write_end)
        os.close(devnull)
        if auth_fd >= 0:
            os.close(auth_fd)
    os.set_blocking(read_end, False)
    return Child(pid, os.pidfd_open(pid)), read_end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _pass_fds(opts: PullOptions) -> tuple[int, ...]:
    """The fd skopeo must inherit when the authfile is one of ours (AUTH_FD)."""
    match = _INHERITED_AUTHFILE.fullmatch(opts.authfile or "")
    return (int(match.group(1)),) if match else ()
