"""cffi builder for minipod.kernel._native (API mode, compiled by `pip install .`)."""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffi = FFI()
ffi.cdef((HERE / "cdef.h").read_text())
ffi.set_source(
    "minipod.kernel._native",
    '#include <sched.h>\n#include <sys/mount.h>\n#include "mp_sys.h"\n#include "mp_exec.h"\n'
    '#include "mp_start.h"\n#include "mp_probe.h"\n#include "mp_prober.h"\n',
    sources=["csrc/mp_sys.c", "csrc/mp_exec.c", "csrc/mp_start.c", "csrc/mp_probe.c",
             "csrc/mp_prober.c"],  # relative: setuptools refuses absolute paths
    include_dirs=["csrc"],
    extra_compile_args=["-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
