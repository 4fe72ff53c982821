"""`minipod logs` (kubectl logs): a container run's CRI log, decoded
(minipod/kernel/logs.py, the format's one home), across its rotated files,
with -c, -p, --tail, --timestamps, --since, --since-time, --all-containers,
--prefix, -l SELECTOR, deploy/NAME (rs/, pod/), and -f until the run ends.

A run's log is <attempt>.log in its container's directory, and the files it
was rotated to (<attempt>.log.<stamp>), oldest first. `-f` reads the file it
has open to its end before it moves on, so a rotation in between loses and
repeats nothing: the renamed file is the one still open, and the writer
rotates between two records.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from minipod.api.errors import MinipodError
from minipod.api.status import parse_rfc3339
from minipod.cli.views import host
from minipod.cli.views.output import ViewError
from minipod.cli.views.records import (
    PodEntry,
    containers_in_order,
    list_pods,
    load_pod,
    read_record,
    require_pod,
)
from minipod.kernel.logs import CriDecoder, LogLine, log_files, rfc3339nano

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
SELECTOR_TAIL = 10  # kubectl's --tail when -l is given
POLL = 0.1  # seconds between looks when -f follows several logs at once


def _format_line(line: LogLine, timestamps: bool, prefix: bytes) -> bytes:
    stamp = rfc3339nano(line.timestamp).encode() + b" " if timestamps and line.timestamp else b""
    return prefix + stamp + line.text + b"\n"


def _emit(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode(errors="replace"))
    else:
        sys.stdout.flush()
        out.write(data)
        out.flush()


def _default_container(entry: PodEntry) -> str:
    spec = entry.object.get("spec") or {}
    apps = [c.get("name", "") for c in spec.get("containers") or []]
    inits = [c.get("name", "") for c in spec.get("initContainers") or []]
    if not apps:  # no object: the record's own list
        ordered = containers_in_order(entry.record)
        apps = [n for n, c in ordered if not c.init]
        inits = [n for n, c in ordered if c.init]
    wanted = ((entry.object.get("metadata") or {}).get("annotations") or {}).get(
        DEFAULT_CONTAINER_ANNOTATION)
    if wanted and wanted in apps + inits:
        return str(wanted)
    if wanted:
        print(f'Default container name "{wanted}" not found in pod {entry.name}',
              file=sys.stderr)
    if not apps:
        raise MinipodError(f"pod {entry.name} has no containers")
    if len(apps) > 1 or inits:
        names = ", ".join([*apps, *(f"{n} (init)" for n in inits)])
        print(f'Defaulted container "{apps[0]}" out of: {names}', file=sys.stderr)
    return str(apps[0])


def log_dir(entry: PodEntry) -> Path:
    """Where the pod's container logs are: the record says (kernel/paths.py
    logs_root), or, for a record of before, <pod dir>/logs."""
    return Path(entry.record.log_dir) if entry.record.log_dir else entry.directory / "logs"


def _log_path(entry: PodEntry, container: str, attempt: int) -> Path:
    return log_dir(entry) / container / f"{attempt}.log"


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration (5s, 2m30s, 1h), in seconds."""
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise argparse.ArgumentTypeError(f'time: invalid duration "{text}"')
    return total


@dataclass
class Source:
    """One container run's log, as one stream of lines (rotations included)."""

    entry: PodEntry
    container: str
    attempt: int
    prefix: bytes = b""
    decoder: CriDecoder = field(default_factory=CriDecoder)
    fd: int = -1
    inode: int = -1
    done: bool = False

    @property
    def path(self) -> Path:
        return _log_path(self.entry, self.container, self.attempt)

    def read_all(self) -> list[LogLine]:
        """Every line there is now: the rotated files, then the current one,
        which stays open for -f. The current file is opened first: one
        rotated after that is ours, and is read from the fd."""
        self._open()
        lines = self._rotated_between(None, self.inode if self.fd >= 0 else None)
        return lines + self.read_more()

    def _open(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            self.inode = os.fstat(self.fd).st_ino

    def _rotated_between(self, after: int | None, before: int | None) -> list[LogLine]:
        """The rotated files after the one of inode ``after`` (None: from the
        oldest) and before the one of inode ``before`` (None: to the newest)."""
        lines: list[LogLine] = []
        started = after is None
        for file in log_files(self.path)[:-1]:
            try:
                fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                inode = os.fstat(fd).st_ino
                if inode == before:
                    break
                if started:
                    lines += self.decoder.feed(_read_all(fd))
                started = started or inode == after
            finally:
                os.close(fd)
        return lines

    def read_more(self) -> list[LogLine]:
        """What was written since: the open file to its end, and if it was
        rotated meanwhile, the files rotated after it, then the current one
        (opened before the others are looked for, so none falls between)."""
        if self.fd < 0:
            self._open()
            if self.fd < 0:
                return []
        lines = self.decoder.feed(_read_all(self.fd))
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            return lines
        if current == self.inode:
            return lines
        old_fd, old_inode = self.fd, self.inode
        self.fd = -1
        self._open()
        lines += self.decoder.feed(_read_all(old_fd))  # its last words, if any came since
        os.close(old_fd)
        lines += self._rotated_between(old_inode, self.inode if self.fd >= 0 else None)
        return lines + (self.decoder.feed(_read_all(self.fd)) if self.fd >= 0 else [])

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _pods_of(args: argparse.Namespace) -> list[PodEntry]:
    """The pods `logs` reads: POD, pod/POD, deploy/NAME or rs/NAME (one of its
    pods, as kubectl picks one), or every pod -l selects."""
    if args.selector:
        if args.pod:
            raise ViewError("error: only one of a selector or a pod name may be given")
        # start-up: imported with the verb that needs it
        from minipod.api.errors import SpecError
        from minipod.api.selector import LabelSelector

        try:
            selector = LabelSelector.parse(args.selector)
        except SpecError as e:
            raise ViewError(f"error: {e}") from None
        found = [e for e in list_pods(args.namespace) if selector.matches(e.labels)]
        if not found:
            print(f"No resources found in {args.namespace} namespace.", file=sys.stderr)
        return found
    if not args.pod:
        raise ViewError("error: expected POD, TYPE/NAME or -l SELECTOR")
    kind, sep, name = args.pod.partition("/")
    if not sep or kind in ("pod", "pods", "po"):
        return [require_pod(args.namespace, name if sep else args.pod)]
    owners = {"deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
              "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet"}
    owner = owners.get(kind.removesuffix(".apps"))
    if owner is None:
        raise ViewError(f'error: cannot get the logs of a {kind}: pods, deployments and '
                        "replicasets have logs")
    pods = [e for e in list_pods(args.namespace) if _owned_by(e, owner, name)]
    if not pods:
        raise ViewError(f'error: timed out waiting for the condition: no pod of {kind}/{name}')
    if len(pods) > 1:
        print(f"Found {len(pods)} pods, using pod/{pods[0].name}", file=sys.stderr)
    return pods[:1]


def _owned_by(entry: PodEntry, kind: str, name: str) -> bool:
    owner = entry.record.owner
    if owner is None:
        return False
    if kind == "ReplicaSet":
        return owner.name == name
    return owner.name == f"{name}-{entry.labels.get('pod-template-hash', '')}"


def _sources(args: argparse.Namespace, pods: list[PodEntry]) -> list[Source]:
    many = len(pods) > 1 or args.all_containers
    sources = []
    for entry in pods:
        if args.all_containers:
            names = [n for n, _ in containers_in_order(entry.record)]
        else:
            names = [args.container or _default_container(entry)]
        for name in names:
            info = entry.record.container(name)
            if info is None:
                raise MinipodError(f"container {name} is not valid for pod {entry.name}")
            attempt = info.attempt
            if args.previous:
                # the kubelet's lastState.terminated: the run before this one, or, for
                # a container waiting to start again, the run that last exited
                attempt = attempt if info.state == "waiting" else attempt - 1
                if attempt < 0 or not _log_path(entry, name, attempt).exists():
                    raise ViewError(f"Error from server (BadRequest): previous terminated "
                                    f'container "{name}" in pod "{entry.name}" not found')
            elif attempt < 0:
                if many:
                    continue  # kubectl skips what has not started, with --all-containers
                reason = info.reason or "ContainerCreating"
                raise ViewError(f'Error from server (BadRequest): container "{name}" in pod '
                                f'"{entry.name}" is waiting to start: {reason}')
            prefix = f"[pod/{entry.name}/{name}] ".encode() if args.prefix else b""
            sources.append(Source(entry, name, attempt, prefix))
    return sources


def cmd_logs(args: argparse.Namespace) -> int:
    if args.since is not None and args.since_time is not None:
        raise ViewError("error: at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: float | None = None
    if args.since is not None:
        since = host.now() - args.since
    elif args.since_time is not None:
        since = parse_rfc3339(args.since_time)
        if since is None:
            raise ViewError(f'error: --since-time must be an RFC3339 time (2006-01-02T15:04:05Z), '
                            f'not "{args.since_time}"')
    pods = _pods_of(args)
    sources = _sources(args, pods)
    tail = args.tail
    if tail is None and args.selector:
        tail = SELECTOR_TAIL
    tail = tail if tail is not None and tail >= 0 else None
    follow = args.follow and not args.previous
    if follow and len(sources) > args.max_log_requests:
        raise ViewError(f"error: you are attempting to follow {len(sources)} log streams, but "
                        f"maximum allowed concurrency is {args.max_log_requests}, use "
                        "--max-log-requests to increase the limit")
    try:
        for source in sources:
            lines = source.read_all()
            if not follow or _run_finished(source):
                lines += source.decoder.finish()
                source.done = follow
            _emit(_select(lines, tail, since, args.timestamps, source.prefix))
        if follow:
            _follow(sources, args.timestamps)
    finally:
        for source in sources:
            source.close()
    return 0


def _select(lines: list[LogLine], tail: int | None, since: float | None, timestamps: bool,
            prefix: bytes) -> bytes:
    if since is not None:
        lines = [line for line in lines
                 if (stamp := parse_rfc3339(line.timestamp)) is None or stamp >= since]
    if tail is not None:
        lines = lines[len(lines) - tail:] if tail else []
    return b"".join(_format_line(line, timestamps, prefix) for line in lines)


def _follow(sources: list[Source], timestamps: bool) -> None:
    """Print what each run writes until every run has ended: one source waits
    on inotify (views/watch.py), several are looked at every POLL seconds."""
    live = [s for s in sources if not s.done]
    if not live:
        return
    if len(live) == 1:
        # start-up: inotify's ctypes loads only for -f
        from minipod.cli.views.watch import FileWatch

        source = live[0]
        with FileWatch(source.entry.directory, source.path) as watch:
            while not _step(source, timestamps):
                watch.wait()
        return
    while live:
        live = [s for s in live if not _step(s, timestamps)]
        if live:
            time.sleep(POLL)


def _step(source: Source, timestamps: bool) -> bool:
    """Print what is new; True once the run has ended (checked before the
    last read, so its last words are still printed)."""
    finished = _run_finished(source)
    lines = source.read_more()
    if finished:
        lines += source.decoder.finish()
    if lines:
        _emit(b"".join(_format_line(line, timestamps, source.prefix) for line in lines))
    return finished


def _run_finished(source: Source) -> bool:
    """The run `logs -f` follows has ended: it exited, the container started
    again, or the pod is gone."""
    record = read_record(source.entry.directory)
    if record is None:
        return not source.entry.directory.exists()
    info = record.container(source.container)
    return info is None or info.attempt != source.attempt or not info.running


__all__ = ["cmd_logs", "load_pod", "parse_duration"]
