"""The wheel works on its own: built from a copy of this checkout (so no ``build/`` left over
from an earlier build can add a deleted module, and the checkout gets no ``build/`` or
``*.egg-info``), it holds exactly the source tree's modules; installed (not editable) into a clean
virtual environment (no system site packages; dependencies from the package index or pip's
cache), it serves the demo, answers KMS through boto3, its ``cloudhsm-cli`` talks to it, and the
service models and SQL migrations it needs are inside the installed package, not read from the
source tree."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig

from hsmkms.protocol.model import SERVICES
from hsmkms.testing.server import TEST_CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parents[2]
#: Bounds on polling, not expectations: fast timing builds the demo in seconds.
HEALTH_WAIT = 120.0
DEMO_WAIT = 600.0


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env,  # noqa: S603 - our argv
                          capture_output=True, text=True, check=False, timeout=timeout)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell that activated ``venv``: nothing points back at the checkout
    or at the virtual environment running the tests."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


#: What a copy of the checkout leaves out: history, environments, build output and caches.
NOT_COPIED = (".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__",
              ".hsmkms", ".hypothesis", ".mypy_cache", ".pytest_cache", ".ruff_cache")


@dataclass(frozen=True)
class Built:
    wheel: Path
    venv: Path
    #: The copy of the checkout the wheel was built from.
    source: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel, built from a copy of the checkout, and a clean venv with it installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", tmp / "dist",
        cwd=source)
    (wheel,) = (tmp / "dist").glob("hsmkms-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp,
        env=clean_env(venv))
    return Built(wheel, venv, source)


def test_the_wheel_holds_exactly_the_source_modules(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        shipped = {n for n in wheel.namelist() if n.startswith("hsmkms/") and n.endswith(".py")}
    package = built.source / "src"
    source = {p.relative_to(package).as_posix() for p in (package / "hsmkms").rglob("*.py")}
    assert "hsmkms/__init__.py" in source
    assert shipped == source


def test_the_wheel_carries_models_and_migrations(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    assert {f"hsmkms/protocol/models/{s}.json" for s in SERVICES} <= names
    assert any(re.fullmatch(r"hsmkms/store/migrations/[^/]+\.sql", n) for n in names)
    assert {f"hsmkms/webconsole/static/{f}" for f in ("console.html", "console.js",
                                                       "console.css")} <= names
    assert not any(n.startswith(("tests/", "scripts/")) for n in names)


PROBE = """
import json, sys
from importlib import resources
import hsmkms
from hsmkms.protocol.model import SERVICES, load
pkg = resources.files("hsmkms")
print(json.dumps({
    "file": hsmkms.__file__,
    "models": {s: load(s).botocore_version for s in SERVICES},
    "model_files": sorted(p.name for p in pkg.joinpath("protocol", "models").iterdir()),
    "migrations": sorted(p.name for p in pkg.joinpath("store", "migrations").iterdir()
                         if p.name.endswith(".sql")),
    "botocore_loaded": sorted(m for m in sys.modules if m.startswith("botocore")),
}))
"""


def test_installed_package_is_self_contained(built: Built, tmp_path: Path) -> None:
    venv = built.venv
    done = run(venv / "bin" / "python", "-c", PROBE, cwd=tmp_path, env=clean_env(venv))
    found = json.loads(done.stdout)
    assert Path(found["file"]).resolve().is_relative_to(venv.resolve())
    assert found["models"] == dict.fromkeys(SERVICES, "1.44.8")
    assert found["model_files"] == sorted(f"{s}.json" for s in SERVICES)
    source = sorted(p.name for p in (ROOT / "src" / "hsmkms" / "store" / "migrations")
                    .glob("*.sql"))
    assert found["migrations"] == source
    assert source
    assert found["botocore_loaded"] == []  # loading the models needs no botocore


class Output:
    """Collects a process's output lines in a thread, so reading never blocks the test."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self.thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.thread.start()

    @property
    def text(self) -> str:
        return "".join(list(self.lines))


@dataclass
class Running:
    endpoint: str
    venv: Path
    proc: subprocess.Popen[str]
    out: Output

    def wait_for(self, what: str, check: Callable[[], bool], limit: float) -> None:
        deadline = time.monotonic() + limit
        while not check():
            if self.proc.poll() is not None:
                pytest.fail(f"hsmkms exited ({self.proc.returncode}) before {what}:\n"
                            f"{self.out.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {limit:.0f} s:\n{self.out.text}")
            time.sleep(0.2)


def health(endpoint: str) -> dict[str, object] | None:
    """The health answer, or None while nothing healthy answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_hsmkms/health", timeout=5) as resp:  # noqa: S310
            answer = json.loads(resp.read())
    except OSError:
        return None
    return answer if isinstance(answer, dict) and answer.get("status") == "ok" else None


@pytest.fixture
def demo(built: Built, tmp_path: Path) -> Iterator[Running]:
    """``<venv>/bin/hsmkms serve --demo`` on a free port, stopped with SIGTERM afterwards (it
    must exit 0, as a graceful stop does)."""
    venv = built.venv
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - the installed console script
        [str(venv / "bin" / "hsmkms"), "serve", "--demo", "--port", str(port),
         "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=clean_env(venv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    out = Output(proc)
    try:
        yield Running(f"http://127.0.0.1:{port}", venv, proc, out)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        out.thread.join(timeout=30)
    assert proc.returncode == 0, f"hsmkms did not stop cleanly:\n{out.text}"


def test_installed_server_serves_the_demo(built: Built, demo: Running) -> None:
    # Health first, then the demo's banner (printed once everything is built).
    demo.wait_for("health", lambda: health(demo.endpoint) is not None, HEALTH_WAIT)
    demo.wait_for("the demo banner", lambda: "kmsuser password" in demo.out.text, DEMO_WAIT)
    text = demo.out.text
    ready = re.search(r"hsmkms demo ready at (\S+)", text)
    cluster = re.search(r"^\s+cluster\s+(cluster-\w+)\s", text, re.MULTILINE)
    key = re.search(r"^\s+KMS key\s+(\S+)", text, re.MULTILINE)
    assert ready is not None, text
    assert ready.group(1) == demo.endpoint
    console = re.search(r"^\s+web console\s+(\S+)$", text, re.MULTILINE)
    assert console is not None, text
    assert console.group(1) == f"{demo.endpoint}/_hsmkms/console"
    assert cluster is not None, text
    assert key is not None, text
    # The port was free when it was chosen, not necessarily when the server bound it: the
    # server answering is ours if it runs the wheel's version and has the demo's cluster.
    answer = health(demo.endpoint)
    assert answer is not None
    assert answer["version"] == built.wheel.name.split("-")[1]
    hsm = boto3.client("cloudhsmv2", endpoint_url=demo.endpoint, region_name="us-east-1",
                       config=BotoConfig(retries={"max_attempts": 1}), **TEST_CREDENTIALS)
    clusters = hsm.describe_clusters(Filters={"clusterIds": [cluster.group(1)]})["Clusters"]
    assert [c["ClusterId"] for c in clusters] == [cluster.group(1)]

    kms = boto3.client("kms", endpoint_url=demo.endpoint, region_name="us-east-1",
                       config=BotoConfig(retries={"max_attempts": 1}), **TEST_CREDENTIALS)
    fresh = kms.create_key(Description="from the wheel")["KeyMetadata"]["KeyId"]
    for key_id in (fresh, key.group(1)):  # an AWS_KMS key, and the demo's CloudHSM key
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"wheel", EncryptionContext={"a": "b"})
        plain = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"})
        assert (plain["Plaintext"], plain["KeyId"]) == (b"wheel", blob["KeyId"])
    assert kms.describe_key(KeyId=key.group(1))["KeyMetadata"]["Origin"] == "AWS_CLOUDHSM"
    # The web console's page and script come from the installed package's data.
    for path, wanted in (("", b'id="timeline"'), ("/static/console.js", b"EventSource")):
        with urllib.request.urlopen(console.group(1) + path, timeout=30) as page:  # noqa: S310
            assert page.status == 200
            assert wanted in page.read()

    env = {**clean_env(demo.venv), "AWS_ENDPOINT_URL": demo.endpoint,
           "CLOUDHSM_CLUSTER_ID": cluster.group(1), "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"]}
    done = run(demo.venv / "bin" / "cloudhsm-cli", "cluster", "hsm-info", cwd=demo.venv,
               env=env, timeout=120)
    hsms = json.loads(done.stdout)["data"]["hsms"]
    assert len(hsms) == 2  # the demo's two HSMs
    assert {h["vendor"] for h in hsms} == {"Marvell Semiconductors, Inc."}
