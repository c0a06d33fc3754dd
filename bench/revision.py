"""``--rev REV`` for the bench scripts: run against a committed revision's ``src/``.

The work tree is shared with people editing it, so a half-finished file can break or skew a run.
With ``--rev HEAD`` (or any commit) the script exports that revision's ``src/`` to a temporary
directory and runs itself again with it first on ``PYTHONPATH`` (ahead of the editable install;
the servers it starts inherit it). This module imports nothing from hsmkms on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REV_ENV = "HSMKMS_BENCH_REV"


def requested_revision(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith("--rev="):
            return arg.split("=", 1)[1]
        if arg == "--rev" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def reexec_for_revision(script: str) -> None:
    """If ``--rev`` was given and this is not yet the re-run, re-run ``script`` and exit."""
    argv = sys.argv[1:]
    rev = requested_revision(argv)
    if rev is None or os.environ.get(REV_ENV):
        return
    here = str(Path(script).resolve().parent)

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", here, *args], check=True,
                              capture_output=True)

    root = git("rev-parse", "--show-toplevel").stdout.decode().strip()
    sha = git("rev-parse", "--short", rev).stdout.decode().strip()
    export = Path(tempfile.mkdtemp(prefix=f"hsmkms-bench-{sha}-"))
    try:
        archive = subprocess.run(["git", "-C", root, "archive", rev, "src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive,
                       check=True)
        path = os.pathsep.join(filter(None, [str(export / "src"), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, REV_ENV: f"revision {rev} ({sha})", "PYTHONPATH": path}
        code = subprocess.run([sys.executable, script, *argv], env=env,
                              check=False).returncode
    finally:
        shutil.rmtree(export, ignore_errors=True)
    sys.exit(code)
