"""Build hooks only; metadata lives in pyproject.toml.

cffi has no pyproject-only hook (python-cffi/cffi#55), so cffi_modules stays
here. build_py also compiles csrc/pause.c into a static executable shipped
inside the package (minipod/libexec/minipod-pause): a separate program, not
part of the extension, so the pod's long-lived infra process carries no
Python interpreter.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PAUSE_SOURCE = Path("csrc/pause.c")
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes",
            "-Wmissing-prototypes", "-Wformat=2"]


def compilers():
    """musl first (a ~20 kB binary, ~40 kB resident), then glibc static, then dynamic."""
    cc = os.environ.get("CC", "cc")
    if shutil.which("musl-gcc"):
        yield ["musl-gcc", "-Os", "-static"]
    yield [cc, "-Os", "-static"]
    yield [cc, "-Os"]


def build_pause(output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for compiler in compilers():
        cmd = [*compiler, *WARNINGS, "-o", str(output), str(PAUSE_SOURCE)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == 0:
            subprocess.run(["strip", str(output)], check=False)
            return
        errors.append(f"{' '.join(cmd)}:\n{result.stderr}")
    raise RuntimeError("cannot compile csrc/pause.c:\n" + "\n".join(errors))


class BuildPyWithPause(build_py):
    def run(self):
        super().run()
        build_pause(Path(self.build_lib) / "minipod" / "libexec" / "minipod-pause")


setup(
    cffi_modules=["csrc/build_native.py:ffi"],
    cmdclass={"build_py": BuildPyWithPause},
    # cffi builds the extension against the stable ABI (_native.abi3.so): one
    # wheel for every CPython from 3.11 on, and tagged so
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
