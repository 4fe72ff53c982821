"""`minipod logs` (kubectl logs): a container run's CRI log file, decoded
(minipod/kernel/logs.py, the format's one home), with -c, -p, --tail,
--timestamps, and -f until the run ends."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from minipod.api.errors import MinipodError
from minipod.cli.views.output import ViewError
from minipod.cli.views.records import PodEntry, containers_in_order, read_record, require_pod
from minipod.kernel.logs import CriDecoder, LogLine, rfc3339nano

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def _format_line(line: LogLine, timestamps: bool) -> bytes:
    if timestamps and line.timestamp:
        return rfc3339nano(line.timestamp).encode() + b" " + line.text + b"\n"
    return line.text + b"\n"


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


def _log_path(entry: PodEntry, container: str, attempt: int) -> Path:
    return entry.directory / "logs" / container / f"{attempt}.log"


def cmd_logs(args: argparse.Namespace) -> int:
    entry = require_pod(args.namespace, args.pod)
    name = args.container or _default_container(entry)
    info = entry.record.container(name)
    if info is None:
        raise MinipodError(f"container {name} is not valid for pod {entry.name}")
    attempt = info.attempt
    if args.previous:
        # the kubelet's lastState.terminated: the run before this one, or, for a
        # container waiting to start again, the run that last exited
        previous = attempt if info.state == "waiting" else attempt - 1
        path = _log_path(entry, name, previous)
        if previous < 0 or not path.exists():
            raise ViewError(f"Error from server (BadRequest): previous terminated container "
                            f'"{name}" in pod "{entry.name}" not found')
    else:
        if attempt < 0:
            reason = info.reason or "ContainerCreating"
            raise ViewError(f'Error from server (BadRequest): container "{name}" in pod '
                            f'"{entry.name}" is waiting to start: {reason}')
        path = _log_path(entry, name, attempt)
    tail = args.tail if args.tail is not None and args.tail >= 0 else None
    follow = args.follow and not args.previous
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not follow:
            return 0  # the run wrote nothing yet
        fd = -1
    try:
        _print_log(entry, name, attempt, path, fd, tail=tail, timestamps=args.timestamps,
                   follow=follow)
    finally:
        if fd >= 0:
            os.close(fd)
    return 0


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _print_log(entry: PodEntry, container: str, attempt: int, path: Path, fd: int, *,
               tail: int | None, timestamps: bool, follow: bool) -> None:
    decoder = CriDecoder()
    if not follow:
        lines = decoder.feed(_read_all(fd)) + decoder.finish()
        if tail is not None:
            lines = lines[len(lines) - tail:] if tail else []
        _emit(b"".join(_format_line(line, timestamps) for line in lines))
        return
    # start-up: inotify's ctypes loads only for -f
    from minipod.cli.views.watch import FileWatch

    # Watch before the first read, so nothing written in between is missed.
    with FileWatch(entry.directory, path) as watch:
        first = True
        while True:
            if fd < 0:
                with contextlib.suppress(FileNotFoundError):
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            finished = _run_finished(entry, container, attempt)
            lines = decoder.feed(_read_all(fd)) if fd >= 0 else []
            if finished:
                lines += decoder.finish()
            if first and tail is not None:
                lines = lines[len(lines) - tail:] if tail else []
            first = False
            if lines:
                _emit(b"".join(_format_line(line, timestamps) for line in lines))
            if finished:
                return
            watch.wait()


def _run_finished(entry: PodEntry, container: str, attempt: int) -> bool:
    """The run `logs -f` follows has ended: it exited, the container started
    again, or the pod is gone. Checked *before* the last read of the file, so
    the run's last words are still read."""
    record = read_record(entry.directory)
    if record is None:
        return not entry.directory.exists()
    info = record.container(container)
    return info is None or info.attempt != attempt or not info.running

