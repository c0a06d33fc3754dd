"""Where hsmkms spends a request: ``python bench/hotspots.py [--rev HEAD] [--py-spy 8]``.

1. ``App.handle`` alone (no HTTP): microseconds per call for Encrypt, Decrypt and
   GenerateDataKey, then a cProfile of each (top functions by own time).
2. With ``--py-spy SECONDS``: a real ``hsmkms serve`` under wrk load (4 connections, Encrypt),
   sampled by ``py-spy`` (``pip install py-spy``); prints the functions with the most samples,
   own and inclusive, the ASGI adapter and uvicorn included.
"""

from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

import run

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.http import HttpRequest
from hsmkms.testing import ServerProcess


def _request(operation: str, body: dict[str, object]) -> HttpRequest:
    headers = {k.lower(): v for k, v in run.request_headers(operation).items()}
    return HttpRequest("POST", "/", headers, json.dumps(body).encode())


def app_requests(app: App) -> dict[str, HttpRequest]:
    created = app.handle(_request("CreateKey", {}))
    key_id = json.loads(created.body)["KeyMetadata"]["KeyId"]
    plaintext = base64.b64encode(os.urandom(run.PLAINTEXT_BYTES)).decode()
    encrypted = app.handle(_request("Encrypt", {"KeyId": key_id, "Plaintext": plaintext}))
    blob = json.loads(encrypted.body)["CiphertextBlob"]
    return {
        "Encrypt": _request("Encrypt", {"KeyId": key_id, "Plaintext": plaintext}),
        "Decrypt": _request("Decrypt", {"CiphertextBlob": blob}),
        "GenerateDataKey": _request("GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"}),
    }


def time_app(calls: int, rounds: int) -> dict[str, float]:
    """CPU µs per ``App.handle`` call for each operation: the best of ``rounds`` rounds (the
    least disturbed by other work on the machine)."""
    with tempfile.TemporaryDirectory(prefix="hsmkms-profile-") as tmp:
        app = App(Config.from_env({"data_dir": tmp}))
        try:
            requests = app_requests(app)
            best: dict[str, float] = {}
            for operation, req in requests.items():
                response = app.handle(req)
                assert response.status == 200, (operation, response.body)
                for _ in range(calls // 5):
                    app.handle(req)
            for _ in range(rounds):
                for operation, req in requests.items():
                    start = time.thread_time()  # CPU time: waiting for a CPU doesn't count
                    for _ in range(calls):
                        app.handle(req)
                    per_call = (time.thread_time() - start) / calls * 1e6
                    best[operation] = min(best.get(operation, per_call), per_call)
            trail = getattr(app, "trail", None)
            if trail is not None:  # CloudTrail: records built and inserted at flush time
                name = "trail prepare+write/event"
                for _ in range(rounds):
                    trail.flush()
                    for _ in range(calls):
                        app.handle(requests["Encrypt"])
                    start = time.thread_time()
                    trail.flush()
                    per_event = (time.thread_time() - start) / calls * 1e6
                    best[name] = min(best.get(name, per_event), per_event)
            return best
        finally:
            app.close()


def profile_app(calls: int, top: int) -> None:
    for operation, per_call in time_app(calls, 3).items():
        print(f"App.handle {operation}: {per_call:.1f} CPU µs/call (best of 3 x {calls})")
    with tempfile.TemporaryDirectory(prefix="hsmkms-profile-") as tmp:
        app = App(Config.from_env({"data_dir": tmp}))
        try:
            requests = app_requests(app)
            for operation, req in requests.items():
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(calls):
                    app.handle(req)
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("tottime").print_stats(top)
                print(f"\n=== cProfile App.handle {operation} x{calls}, by own time ===")
                print(_trim(out.getvalue()))
            trail = getattr(app, "trail", None)
            if trail is not None:
                trail.flush()
                for _ in range(calls):
                    app.handle(requests["Encrypt"])
                profiler = cProfile.Profile()
                profiler.enable()
                trail.flush()
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
                print(f"\n=== cProfile trail flush of {calls} Encrypt events, cumulative ===")
                print(_trim(out.getvalue()))
        finally:
            app.close()


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, x in enumerate(lines) if x.strip().startswith("ncalls")), 0)
    return "\n".join(line.replace(str(Path.cwd()) + "/", "") for line in lines[start:] if line)


def profile_server(seconds: int, top: int) -> None:
    py_spy = shutil.which("py-spy")
    wrk = run.ensure_wrk()
    if py_spy is None or wrk is None:
        raise SystemExit("needs py-spy (pip install py-spy) and wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="hsmkms-profile-") as tmp:
        work = Path(tmp)
        server = ServerProcess(work / "data").start()
        try:
            assert server.proc is not None
            bodies = run.capture_bodies(server)
            path = work / "Encrypt.bodies"
            path.write_bytes(b"\n".join(bodies["Encrypt"]) + b"\n")
            raw = work / "stacks.txt"
            spy = subprocess.Popen([py_spy, "record", "--pid", str(server.proc.pid),
                                    "--rate", "250", "--format", "raw", "--duration",
                                    str(seconds), "-o", str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            n, secs, p50, p99, errors = run.run_wrk(wrk, server.endpoint, "Encrypt", path, 4,
                                                    seconds - 1, None)
            spy.wait(timeout=seconds + 30)
            print(f"\nunder py-spy: {n / secs:.0f} req/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
                  f"{errors} errors")
            _print_stacks(raw.read_text(), top)
        finally:
            server.kill()


_FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def _frame(frame: str) -> str:
    """``name (/long/path/file.py:12)`` -> ``name (dir/file.py)``: one entry per function."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match.group(2).split("/")
    return f"{match.group(1)} ({'/'.join(path[-2:])})"


def _print_stacks(text: str, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\n=== py-spy: {total} samples of the server under Encrypt load ===")
    print("own %   function (file)")
    for frame, count in own.most_common(top):
        print(f"{count / total:6.1%}  {frame}")
    print("\ninclusive %   function (file)")
    for frame, count in inclusive.most_common(top + 15):
        print(f"{count / total:6.1%}  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--py-spy", type=int, default=0, metavar="SECONDS",
                        help="also sample a real server under wrk load for this long")
    parser.add_argument("--rev", help="profile this git revision's src/ (e.g. HEAD)")
    args = parser.parse_args()
    profile_app(args.calls, args.top)
    if args.py_spy:
        profile_server(max(3, args.py_spy), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
