"""cffi builder for minipod.kernel._native (API mode, compiled by `pip install .`).

The declarations cffi parses are the C headers themselves, read here, so
there is no second copy of them to fall behind: each header's preprocessor
lines are dropped but its constants, and every `#define NAME value` is
declared as `#define NAME ...`, whose value cffi then takes from the header
when it compiles; an array length named by a constant becomes `[...]` the
same way. A header the launchers share among themselves (mp_launch.h) is
not listed: Python never sees it.
"""

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

# what Python reaches, in the order cffi reads them
HEADERS = (
    "mp_sys.h", "mp_exec.h", "mp_start.h", "mp_probe.h", "mp_prober.h", "mp_cgroup.h", "mp_seccomp.h"
)
SOURCES = (
    "mp_sys.c", "mp_exec.c", "mp_start.c", "mp_probe.c", "mp_prober.c", "mp_cgroup.c", "mp_seccomp.c"
)

_DEFINE = re.compile(r"#\s*define\s+(\w+)(?:\s+(\S.*))?$")
_SKIPPED = re.compile(r"#\s*(include|ifndef|endif)\b")
_NAMED_LENGTH = re.compile(r"\[\s*[A-Za-z_]\w*\s*\]")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def cdef_of(header: str, text: str) -> str:
    """``text``, a header, as cffi's cdef reads it (see the top)."""
    # comments out first (a #define's may go on over the next lines), their
    # newlines kept so that an error names the header's own line
    text = _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            lines.append(_NAMED_LENGTH.sub("[...]", line))
            continue
        define = _DEFINE.match(stripped)
        if stripped.endswith("\\") or (define is None and _SKIPPED.match(stripped) is None):
            # a macro over several lines, a function-like one, #if...: cffi
            # would see it wrong or not at all, so say so rather than drop it
            raise ValueError(f"csrc/{header}:{number}: no cdef for {stripped!r}")
        if define is not None and define.group(2) is not None:
            lines.append(f"#define {define.group(1)} ...")
        # else: an include guard's bare #define, an #include, #ifndef or #endif
    return "\n".join(lines)


ffi = FFI()
ffi.cdef("\n".join(cdef_of(name, (HERE / name).read_text()) for name in HEADERS))
ffi.set_source(
    "minipod.kernel._native",
    "".join(f'#include "{name}"\n' for name in HEADERS),
    sources=[f"csrc/{name}" for name in SOURCES],  # relative: setuptools refuses absolute paths
    include_dirs=["csrc"],
    libraries=["seccomp"],  # libseccomp-dev (scripts/setup-host.sh); mp_seccomp.c
    extra_compile_args=["-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
