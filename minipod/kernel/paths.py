"""Where minipod keeps its state, its images and the seccomp profiles pods
name: the defaults, and the environment variables that move them
(MINIPOD_ROOT, MINIPOD_IMAGES, MINIPOD_SECCOMP_ROOT, MINIPOD_CACHE).

The one home of these names. state.py and image.py build their Paths on
them; the control socket's codec (minipod/server/protocol.py) and through
it the fast client (minipod/cli/main.py) read them too. That client may
load nothing but the C halves of the standard library, so this module
imports only os (loaded by the interpreter before any of ours) and returns
plain strings, not pathlib Paths.

An empty variable counts as unset: `MINIPOD_ROOT= minipod ...` means the
default, never the current directory.
"""

# No `from __future__ import annotations` here: every annotation below is valid
# at run time, and the __future__ module is a tenth of a millisecond of the
# fast client's start-up (minipod/cli/main.py).
import os

DEFAULT_ROOT = "/run/minipod"
# containers' logs outlive a reboot's /run, as the kubelet's /var/log/pods do
DEFAULT_LOGS = "/var/log/minipod/pods"
DEFAULT_IMAGES = "/var/lib/minipod/images"
# seccompProfile type Localhost: localhostProfile is a path below it (the
# kubelet's --seccomp-profile-root, /var/lib/kubelet/seccomp)
DEFAULT_SECCOMP = "/var/lib/minipod/seccomp"
# what is worth keeping across boots and can be made again (compiled seccomp
# programs: kernel/seccomp.py)
DEFAULT_CACHE = "/var/cache/minipod"
SUPERVISORS = "supervisors"  # under the root: each supervisor's control socket


def state_root() -> str:
    """``$MINIPOD_ROOT``, or /run/minipod."""
    return os.environ.get("MINIPOD_ROOT") or DEFAULT_ROOT


def images_root() -> str:
    """``$MINIPOD_IMAGES``, or /var/lib/minipod/images."""
    return os.environ.get("MINIPOD_IMAGES") or DEFAULT_IMAGES


def logs_root() -> str:
    """``$MINIPOD_LOGS``, or /var/log/minipod/pods: <namespace>_<pod>_<uid>/<container>/
    <attempt>.log, the kubelet's /var/log/pods layout."""
    return os.environ.get("MINIPOD_LOGS") or DEFAULT_LOGS


def cache_root() -> str:
    """``$MINIPOD_CACHE``, or /var/cache/minipod."""
    return os.environ.get("MINIPOD_CACHE") or DEFAULT_CACHE


def seccomp_root() -> str:
    """``$MINIPOD_SECCOMP_ROOT``, or /var/lib/minipod/seccomp."""
    return os.environ.get("MINIPOD_SECCOMP_ROOT") or DEFAULT_SECCOMP


def supervisors_path() -> str:
    """``$MINIPOD_ROOT/supervisors`` (not created here: kernel/state.py does)."""
    return os.path.join(state_root(), SUPERVISORS)
