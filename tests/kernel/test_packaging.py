"""The sdist as a user gets it: it builds (MANIFEST.in carries the C), it
installs into a fresh virtual environment with the distribution's
interpreter, and what it installs runs: the cffi extension (abi3), the pause
program, the command. Only minipod's runtime dependencies come with it (no
test runner, no linter, no python-prctl). The wheel is tagged abi3."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"  # the distribution's, as `make setup` uses


def run(*argv: str | Path, cwd: Path | None = None, timeout: float = 900
        ) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                         timeout=timeout)
    assert out.returncode == 0, f"{argv}: {out.stdout}\n{out.stderr}"
    return out


@pytest.mark.root
@pytest.mark.slow
def test_the_sdist_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, REPO, cwd=tmp_path)
    [sdist] = dist.glob("minipod-*.tar.gz")
    [wheel] = dist.glob("minipod-*.whl")
    assert wheel.name.endswith("-cp311-abi3-linux_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "minipod/kernel/_native.abi3.so" in names
    assert "minipod/libexec/minipod-pause" in names

    venv = tmp_path / "venv"
    run(PYTHON, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "-q", sdist, cwd=tmp_path)
    installed = run(venv / "bin" / "pip", "list", "--format=freeze").stdout.lower()
    for extra in ("pytest", "ruff", "mypy", "python-prctl"):
        assert f"{extra}==" not in installed, f"{extra} came with minipod"
    assert run(venv / "bin" / "minipod", "--version").stdout.startswith("minipod ")
    check = ("import minipod.kernel.sys as m, minipod.kernel.sandbox as s, os;"
             "print(m.prctl(m.PR_GET_DUMPABLE), os.access(s.pause_binary(), os.X_OK))")
    assert run(venv / "bin" / "python", "-c", check, cwd=tmp_path).stdout == "1 True\n"
    valid = run(venv / "bin" / "minipod", "validate", REPO / "examples" / "demo.yaml")
    assert valid.stdout.startswith("pod/demo valid")
    completion = run(venv / "bin" / "minipod", "completion", "bash").stdout
    assert "apply" in completion and "--field-selector" in completion
