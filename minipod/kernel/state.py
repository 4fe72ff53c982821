"""The state directory ($MINIPOD_ROOT, default /run/minipod: kernel/paths.py).

    pods/<namespace>_<name>/pod.json        the pod's record (atomic writes)
    pods/<namespace>_<name>/etc/            hosts, hostname, resolv.conf
    pods/<namespace>_<name>/shm/            the pod's /dev/shm
    pods/<namespace>_<name>/volumes/<v>/    emptyDir volumes
    pods/<namespace>_<name>/containers/<c>/<attempt>/{upper,work,merged}
    pods/<namespace>_<name>/logs/<c>/<attempt>.log   CRI-format logs
    supervisors/<pid>.sock                  a supervisor's control socket
    supervisors/daemon.sock                 the background one's (server/protocol.py)
    services/<namespace>_<name>.json        a Service's record (ServiceRecord)
    endpoints/<namespace>_<name>.json       its endpoints (EndpointsRecord)
    network/                                the pod network (kernel/podnet.py)

Every directory is 0700: only root may read pod state or reach a supervisor.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from minipod.kernel.paths import SUPERVISORS, state_root


def root_dir() -> Path:
    """``$MINIPOD_ROOT`` (minipod/kernel/paths.py has the default)."""
    return Path(state_root())


def ensure_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def ensure_mode(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` unless it has it already, as the usual umask
    leaves a new file or directory: a chmod is a journaled write of the inode
    (tenths of a millisecond on a busy ext4), a stat is not."""
    if os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def pods_dir() -> Path:
    return ensure_dir(ensure_dir(root_dir()) / "pods")


def supervisors_dir() -> Path:
    return ensure_dir(ensure_dir(root_dir()) / SUPERVISORS)


def pod_key(namespace: str, name: str) -> str:
    return f"{namespace}_{name}"  # '_' cannot occur in either DNS name


def pod_dir(namespace: str, name: str) -> Path:
    return pods_dir() / pod_key(namespace, name)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write a temporary file, rename it over ``path``: a reader, or a
    supervisor that crashes half-way, sees the old file or the new, never half.

    No fsync, on purpose: these records describe running processes, and a
    crash of the host that could lose an unsynced write ends those processes
    too (the default root, /run, does not even outlive a boot). Two fsyncs
    per write cost a pod's start and every restart milliseconds on a disk.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            # no indent: json's C encoder then does it all (`minipod inspect`
            # prints a record for people)
            f.write(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def workload_records_dir() -> Path:
    """``$MINIPOD_ROOT/workloads``: one record per running workload (not created here)."""
    return root_dir() / "workloads"


def workload_record_path(namespace: str, kind: str, name: str) -> Path:
    """``$MINIPOD_ROOT/workloads/<namespace>_<kind>_<name>.json``, kind in lower case."""
    return workload_records_dir() / f"{namespace}_{kind.lower()}_{name}.json"


def services_dir() -> Path:
    return root_dir() / "services"


def endpoints_dir() -> Path:
    return root_dir() / "endpoints"


def service_record_path(namespace: str, name: str) -> Path:
    return services_dir() / f"{pod_key(namespace, name)}.json"


def endpoints_record_path(namespace: str, name: str) -> Path:
    return endpoints_dir() / f"{pod_key(namespace, name)}.json"
