"""minipod.kernel.state helpers that need no root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minipod.kernel.state import ensure_mode


def test_ensure_mode_sets_a_different_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    ensure_mode(path, 0o644)
    assert path.stat().st_mode & 0o7777 == 0o644


def test_ensure_mode_leaves_the_same_mode_alone(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d"
    path.mkdir()
    os.chmod(path, 0o755)
    monkeypatch.setattr(os, "chmod", lambda *_a: pytest.fail("chmod of a right mode"))
    ensure_mode(path, 0o755)
