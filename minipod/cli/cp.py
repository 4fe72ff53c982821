"""`minipod cp` (kubectl cp): files and directories between the host and a
container, both ways, as kubectl does it: `tar` runs in the container
(`tar cf -` to copy out, `tar -xmf -` to copy in), started the way
`minipod exec` starts a command (exec_cmd.py), and the host's side is
Python's tarfile. So the container needs a tar, as under kubectl, and every
path inside it is resolved by the container's own root, never the host's.

    minipod cp POD:/path/in/container ./local [-c CONTAINER] [-n NAMESPACE]
    minipod cp ./local POD:/path/in/container

A copy out is extracted safely (kubectl's untarAll checks, in Python's
tarfile, whose "data" filter this Python may lack): nothing outside the
destination, no symlink pointing out of it, no hard link, no device file,
and nothing written through a symlink the archive made.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
from typing import Any

from minipod.api.errors import SpecError


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    cp = sub.add_parser("cp", help="copy files to and from containers (kubectl cp)")
    cp.add_argument("src", metavar="SRC", help="POD:PATH or a local path")
    cp.add_argument("dst", metavar="DEST", help="POD:PATH or a local path")
    cp.add_argument("-c", "--container", default=None)
    cp.add_argument("-n", "--namespace", default="default")
    cp.add_argument("--no-preserve", action="store_true",
                    help="the copied files' owner and mode are not kept")
    cp.set_defaults(handler=cmd_cp)


def split_spec(spec: str) -> tuple[str | None, str | None, str]:
    """(namespace, pod, path) of NAMESPACE/POD:PATH or POD:PATH; (None, None,
    spec) for a local path (kubectl's extractFileSpec)."""
    if ":" not in spec or spec.startswith(("/", ".")):
        return None, None, spec
    pod, _, path = spec.partition(":")
    namespace, slash, name = pod.partition("/")
    if not path:
        raise SpecError(f"filespec must match the canonical format: [[namespace/]pod:]file/path "
                        f"({spec})")
    return (namespace, name, path) if slash else (None, pod, path)


def cmd_cp(args: argparse.Namespace) -> int:
    src_ns, src_pod, src_path = split_spec(args.src)
    dst_ns, dst_pod, dst_path = split_spec(args.dst)
    if (src_pod is None) == (dst_pod is None):
        raise SpecError("one of src or dest must be a remote file specification"
                        if src_pod is None else
                        "one of src or dest must be a local file specification")
    if src_pod is not None:
        return _copy_from(args, src_ns or args.namespace, src_pod, src_path, dst_path)
    assert dst_pod is not None
    return _copy_to(args, dst_ns or args.namespace, dst_pod, src_path, dst_path)


def _target(args: argparse.Namespace, namespace: str, pod: str) -> Any:
    # start-up: imported with the verb that needs it
    from minipod.cli import exec_cmd

    record = exec_cmd._read_record(namespace, pod)
    container = exec_cmd._pick_container(record, pod, args.container)
    return exec_cmd._open_target(record, namespace, pod, container)


class _Command:
    """A command started in the container on given fds (exec's launcher);
    its stderr is gathered by a thread, so it never blocks on a full pipe."""

    def __init__(self, target: Any, argv: tuple[str, ...], *, stdin: int, stdout: int) -> None:
        # start-up: imported with the verb that needs it
        import threading

        # start-up: imported with the verb that needs it
        from minipod.probes.execprobe import start_attached

        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.child = start_attached(target, argv, stdin=stdin, stdout=stdout, stderr=err_w)
        except BaseException:
            os.close(err_r)
            raise
        finally:
            os.close(err_w)
        self._errors: list[bytes] = []
        self._err = err_r
        self._reader = threading.Thread(target=lambda: self._errors.append(_read_all(err_r)),
                                        daemon=True)
        self._reader.start()

    def wait(self) -> tuple[int, bytes]:
        """(exit code, what it wrote to stderr)."""
        # start-up: imported with the verb that needs it
        from minipod.cli import exec_cmd

        try:
            code = exec_cmd._exit_code(self.child)
        finally:
            os.close(self.child.pidfd)
        self._reader.join()
        os.close(self._err)
        return code, b"".join(self._errors)


def _run(target: Any, argv: tuple[str, ...], *, stdin: int, stdout: int) -> tuple[int, bytes]:
    return _Command(target, argv, stdin=stdin, stdout=stdout).wait()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _copy_from(args: argparse.Namespace, namespace: str, pod: str, src: str, dst: str) -> int:
    """`tar cf - -C DIR BASE` in the container, extracted here as ``dst``."""
    # start-up: imported with the verb that needs it
    import tarfile

    source = posixpath.normpath(src)
    directory, base = posixpath.split(source)
    target = _target(args, namespace, pod)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            command = _Command(target, ("tar", "cf", "-", "-C", directory or "/", base or "."),
                               stdin=-1, stdout=out_w)
        finally:
            os.close(out_w)  # tar has its own now: our end's EOF is its end
        with os.fdopen(out_r, "rb") as stream:
            out_r = -1
            try:
                extracted = _extract(stream, base or ".", dst, preserve=not args.no_preserve)
            except tarfile.ReadError:
                extracted = 0  # nothing came: tar's stderr says why
        code, errors = command.wait()
    finally:
        if out_r >= 0:
            os.close(out_r)
        target.close()
        target.pod_ns.close()
    if code != 0:
        sys.stderr.write(errors.decode(errors="replace"))
        return 1
    if not extracted:
        print(f"error: {src} no such file or directory", file=sys.stderr)
        return 1
    return 0


def _extract(stream: Any, base: str, dst: str, preserve: bool) -> int:
    """The members of the tar stream under ``base``, written as ``dst`` (the
    source itself becomes ``dst``, as kubectl cp names it); how many."""
    # start-up: imported with the verb that needs it
    import tarfile

    target = os.path.abspath(dst)
    parent, prefix = os.path.dirname(target), os.path.basename(target)
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            name = posixpath.normpath(member.name)
            if base not in (".", name) and not name.startswith(base + "/"):
                continue
            rest = name if base == "." else name[len(base):].lstrip("/")
            member.name = posixpath.join(prefix, rest) if rest and rest != "." else prefix
            if not _safe(member, parent, target):
                continue
            if not preserve:
                member.uid, member.gid = os.getuid(), os.getgid()
                member.uname = member.gname = ""
            archive.extract(member, path=parent, set_attrs=preserve, numeric_owner=True)
            count += 1
    return count


def _safe(member: Any, parent: str, root: str) -> bool:
    """Whether ``member`` (named under ``parent``) stays inside ``root``."""
    path = os.path.join(parent, member.name)
    where = os.path.realpath(os.path.dirname(path))  # through any symlink made before
    if not _within(where, root) and where != parent:
        print(f'warning: skipping "{member.name}": outside the destination', file=sys.stderr)
        return False
    if member.isdev() or member.isfifo():
        print(f'warning: skipping "{member.name}": a device file', file=sys.stderr)
        return False
    if member.islnk():
        print(f'warning: skipping hard link "{member.name}"', file=sys.stderr)
        return False
    if member.issym():
        pointed = os.path.realpath(os.path.join(where, member.linkname))
        if not _within(pointed, root):
            print(f'warning: skipping symlink: "{member.name}" -> "{member.linkname}" '
                  "(destination outside the copy)", file=sys.stderr)
            return False
    return True


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _copy_to(args: argparse.Namespace, namespace: str, pod: str, src: str, dst: str) -> int:
    """A tar of ``src`` named as ``dst``, untarred by `tar -xmf -` in the
    container (into ``dst`` when that is a directory there, as kubectl does)."""
    # start-up: imported with the verb that needs it
    import tarfile
    import threading

    if not os.path.exists(src):
        raise SpecError(f"{src} doesn't exist in local filesystem")
    target = _target(args, namespace, pod)
    try:
        dest = posixpath.normpath(dst)
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            is_dir, _ = _run(target, ("test", "-d", dest), stdin=-1, stdout=null)
        finally:
            os.close(null)
        if is_dir == 0:
            dest = posixpath.join(dest, os.path.basename(os.path.normpath(src)))
        directory, name = posixpath.split(dest)
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        writer_error: list[BaseException] = []

        def write_tar() -> None:
            try:
                with os.fdopen(in_w, "wb") as stream, \
                        tarfile.open(fileobj=stream, mode="w|") as archive:
                    archive.add(src, arcname=name)
            except BrokenPipeError:
                pass  # tar in the container gave up: its error says why
            except BaseException as e:
                writer_error.append(e)

        writer = threading.Thread(target=write_tar, daemon=True)
        writer.start()
        try:
            code, errors = _run(target, ("tar", "-xmf", "-", "-C", directory or "/"), stdin=in_r,
                                stdout=2)
        finally:
            os.close(in_r)
        writer.join()
        if writer_error:
            raise writer_error[0]
    finally:
        target.close()
        target.pod_ns.close()
    if code != 0:
        sys.stderr.write(errors.decode(errors="replace"))
        return 1
    return 0
