"""Drift guard for python/ferrule/_ferrule.pyi: mypy's stubtest against the compiled core."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_stub_matches_the_compiled_core() -> None:
    pytest.importorskip("mypy", reason="mypy is a test dependency (pip install .[test])")
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "ferrule._ferrule"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
