"""The source passes the linters the project is held to: ruff (every rule, configured in
pyproject.toml) and mypy --strict (also from pyproject.toml), run with this interpreter so the
pinned versions of the ``test`` extra are the ones used. A finding fails the build and is shown
in the failure message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT,  # noqa: S603 - our argv
                          capture_output=True, text=True, check=False, timeout=600)


def test_ruff_finds_nothing_in_src() -> None:
    result = run("ruff", "check", "--no-cache", "--output-format", "concise", "src")
    assert result.returncode == 0, f"ruff check src:\n{result.stdout}{result.stderr}"


def test_mypy_strict_finds_nothing_in_src() -> None:
    result = run("mypy", "--cache-dir", os.devnull, "src")  # nothing left in the checkout
    findings = f"{result.stdout}{result.stderr}"
    assert result.returncode == 0, f"mypy src (strict, from pyproject.toml):\n{findings}"
