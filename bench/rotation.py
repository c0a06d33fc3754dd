"""Bench of key rotation's cost on the hot path (issue 12, item 7), run by hand (never in CI):
``python bench/rotation.py [--duration 5] [--repeat 3] [--rev HEAD]``.

Against one real ``hsmkms serve`` over HTTP (loopback, keep-alive; wrk driving bench/kms.lua, or
bench/run.py's Python generator without wrk; server and load pinned to different CPUs), with
request bodies captured from boto3 as bench/run.py does. Every ratio compares two cases of the
same round, interleaved, so drift hits both alike:

1. **Decrypt of a ciphertext made under an old material** (the key's first, 10 rotations ago)
   against Decrypt of one made under its current material. Target: within 1.1x (server CPU per
   request and throughput).
2. **DescribeKey and ListKeyRotations on a key with 100 rotations** against the same on a key
   with 1 rotation. Target: flat (within 1.1x). ListKeyRotations asks for one entry
   (``Limit=1``), so both answers are the same size and the ratio is what finding the page
   costs; the whole history of 100 (one page) is shown beside it, for scale.

Both parts also run **in process** (``hsmkms.testing.InProcess``): the captured requests handed
to the app directly, timed by the CPU time of the calling thread (waiting for a CPU on a busy
machine doesn't count), interleaved, the least disturbed of ``--rounds`` rounds. These ratios
hold on a busy machine, where the HTTP ones move with whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revision import REV_ENV, reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from hsmkms.http import HttpRequest
from hsmkms.testing import InProcess, ServerProcess

import run
from keytypes import Run, spread, wrk_run

BODIES = 16
CONNECTIONS = 4
TARGET = 1.1
DAY = 86400
#: (case, baseline of its ratio); a case whose baseline is None is only shown.
CASES: dict[str, str | None] = {
    "Decrypt, current material": None,
    "Decrypt, material 10 rotations old": "Decrypt, current material",
    "DescribeKey, 1 rotation": None,
    "DescribeKey, 100 rotations": "DescribeKey, 1 rotation",
    "ListKeyRotations Limit=1, 1 rotation": None,
    "ListKeyRotations Limit=1, 100 rotations": "ListKeyRotations Limit=1, 1 rotation",
    "ListKeyRotations all 100 (for scale)": None,
}
OPERATION = {case: case.split(",")[0].split(" ")[0] for case in CASES}


def capture(server: ServerProcess | InProcess) -> dict[str, list[bytes]]:
    """The keys, their histories, and the exact bodies boto3 sends for each case."""
    kms = server.client("kms")
    # 100 automatic rotations in one clock jump (a 90-day period), then a key with one.
    old = kms.create_key(Description="rotation bench: 100")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=old, RotationPeriodInDays=90)
    server.advance(99 * 90 * DAY + 60)
    young = kms.create_key(Description="rotation bench: 1")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=young, RotationPeriodInDays=90)
    server.advance(90 * DAY + 60)
    counts = {key: len(kms.list_key_rotations(KeyId=key, Limit=1000)["Rotations"])
              for key in (old, young)}
    assert counts == {old: 100, young: 1}, counts
    # A key rotated on demand 10 times, with ciphertexts under its first and its last material.
    rotated = kms.create_key(Description="rotation bench: decrypt")["KeyMetadata"]["KeyId"]
    first = [kms.encrypt(KeyId=rotated, Plaintext=os.urandom(32))["CiphertextBlob"]
             for _ in range(BODIES)]
    for _ in range(10):
        kms.rotate_key_on_demand(KeyId=rotated)
        server.advance(60)
    last = [kms.encrypt(KeyId=rotated, Plaintext=os.urandom(32))["CiphertextBlob"]
            for _ in range(BODIES)]
    materials = {kms.decrypt(CiphertextBlob=b)["KeyMaterialId"] for b in (first[0], last[0])}
    assert len(materials) == 2, materials

    sent: list[bytes] = []
    kms.meta.events.register_first("before-send", lambda request, **_: sent.append(
        request.body if isinstance(request.body, bytes) else request.body.encode()))
    plans: dict[str, Any] = {
        "Decrypt, current material": lambda: [kms.decrypt(CiphertextBlob=b) for b in last],
        "Decrypt, material 10 rotations old": lambda: [kms.decrypt(CiphertextBlob=b)
                                                       for b in first],
        "DescribeKey, 1 rotation": lambda: kms.describe_key(KeyId=young),
        "DescribeKey, 100 rotations": lambda: kms.describe_key(KeyId=old),
        "ListKeyRotations Limit=1, 1 rotation": lambda: kms.list_key_rotations(
            KeyId=young, Limit=1),
        "ListKeyRotations Limit=1, 100 rotations": lambda: kms.list_key_rotations(
            KeyId=old, Limit=1),
        "ListKeyRotations all 100 (for scale)": lambda: kms.list_key_rotations(
            KeyId=old, Limit=100),
    }
    bodies: dict[str, list[bytes]] = {}
    for case, plan in plans.items():
        sent.clear()
        plan()
        bodies[case] = list(sent)
    return bodies


class Load:
    def __init__(self, server: ServerProcess, bodies: dict[str, list[bytes]], workdir: Path,
                 wrk: str | None, load_cpus: set[int] | None) -> None:
        self.server, self.bodies, self.wrk, self.load_cpus = server, bodies, wrk, load_cpus
        self.files = {}
        for i, (case, items) in enumerate(bodies.items()):
            self.files[case] = workdir / f"case{i}.bodies"
            self.files[case].write_bytes(b"\n".join(items) + b"\n")
        assert server.proc is not None
        self.pid = server.proc.pid

    def settle(self, quiet: float = 0.1, limit: float = 10.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = run.cpu_total(self.pid)
            time.sleep(quiet)
            if run.cpu_total(self.pid) - before < quiet * 0.1:
                return

    def run(self, case: str, seconds: float) -> Run:
        operation = OPERATION[case]
        self.settle()
        cpu0 = run.cpu_total(self.pid)
        if self.wrk is not None:
            n, secs, p50, p99, errors, extra = wrk_run(self.wrk, self.server.endpoint, operation,
                                                       self.files[case], seconds, self.load_cpus)
            p999, worst = extra["p999_us"] / 1e3, extra["max_us"] / 1e3
        else:
            n, secs, p50, p99, errors, _cpu = run.run_python(
                self.server.endpoint, operation, self.bodies[case], CONNECTIONS, seconds,
                self.load_cpus)
            p999 = worst = float("nan")
        used = run.cpu_total(self.pid) - cpu0
        return Run(case, n, secs, p50, p99, p999, worst, errors, used / n * 1e6 if n else 0.0)


def inprocess(workdir: Path, calls: int, rounds: int) -> dict[str, float]:
    """Case -> CPU µs per call of the app's handling (least disturbed round)."""
    with InProcess(workdir / "inprocess") as inproc:
        bodies = capture(inproc)
        requests = {case: [HttpRequest("POST", "/", {
            **{k.lower(): v for k, v in run.request_headers(OPERATION[case]).items()},
            "host": "localhost"}, body) for body in items] for case, items in bodies.items()}

        def once(case: str, n: int) -> float:
            todo = requests[case]
            start = time.thread_time()
            for i in range(n):
                resp = inproc.app.handle(todo[i % len(todo)])
                if resp.status != 200:
                    raise SystemExit(f"{case} answered {resp.status}: {resp.body[:200]!r}")
            return (time.thread_time() - start) / n * 1e6

        for case in CASES:
            once(case, calls // 4)  # warm up
        found: dict[str, list[float]] = {case: [] for case in CASES}
        for _ in range(rounds):
            for case in CASES:
                found[case].append(once(case, calls))
        return {case: min(values) for case, values in found.items()}


def inprocess_table(us: dict[str, float]) -> tuple[list[str], bool]:
    lines = ["| case (in process) | CPU µs/call | ratio |", "|---|---:|---:|"]
    verdicts, ok = [], True
    for case, value in us.items():
        base = CASES[case]
        ratio = value / us[base] if base is not None else None
        lines.append(f"| {case} | {value:,.1f} | {'-' if ratio is None else f'{ratio:.3f}x'} |")
        if ratio is not None:
            good = ratio <= TARGET
            ok &= good
            verdicts.append(f"{'PASS' if good else 'MISS'} in process: {case} vs {base}: "
                            f"{ratio:.3f}x (target <= {TARGET}x)")
    return [*lines, "", *verdicts], ok


def table(runs: dict[str, list[Run]]) -> tuple[list[str], bool]:
    lines = [("| case (c=4) | req/s | p50 / p99 ms | server CPU µs/req | time/req ratio | "
              "server CPU/req ratio |"), "|---|---:|---:|---:|---:|---:|"]
    verdicts: list[str] = []
    ok = True
    for case, group in runs.items():
        m = sorted(group, key=lambda r: r.rps)[len(group) // 2]
        base_name = CASES[case]
        tput_s = cpu_s = "-"
        if base_name is not None:
            base = runs[base_name]
            tput = [b.rps / r.rps for r, b in zip(group, base, strict=True) if r.rps]
            cpu = [r.server_cpu_us / b.server_cpu_us for r, b in zip(group, base, strict=True)
                   if b.server_cpu_us]
            tput_s, cpu_s = spread(tput, "x"), spread(cpu, "x")
            worst = max(statistics.median(tput), statistics.median(cpu))
            good = worst <= TARGET
            ok &= good
            verdicts.append(f"{'PASS' if good else 'MISS'} {case} vs {base_name}: server CPU/req "
                            f"{statistics.median(cpu):.3f}x, time/req (1/throughput) "
                            f"{statistics.median(tput):.3f}x (target <= {TARGET}x)")
        lines.append(f"| {case} | {m.rps:,.0f} | {m.p50_ms:.3f} / {m.p99_ms:.3f} | "
                     f"{m.server_cpu_us:,.0f} | {tput_s} | {cpu_s}"
                     + (f" errors {m.errors}" if m.errors else "") + " |")
        ok &= m.errors == 0
    return [*lines, "", *verdicts], ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case, interleaved")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the server and the load generator to separate CPUs")
    parser.add_argument("--calls", type=int, default=2000, help="calls per in-process round")
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--rev", help="bench this git revision's src/ (e.g. HEAD)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    print(f"hsmkms rotation bench of {os.environ.get(REV_ENV, 'the work tree')} on "
          f"{run.machine()}", flush=True)
    print(f"CPU use by other processes before the run: {run.machine_busy():.0%} of the "
          "machine", flush=True)
    wrk = None if args.loadgen == "python" else run.ensure_wrk()
    if args.loadgen == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cpus[0]}, {cpus[1]}) if args.pin and len(cpus) >= 2 else (None,
                                                                                         None)
    print(f"load generator: {wrk or 'python'}; server pinned to {server_cpus or 'any CPU'}, "
          f"load to {load_cpus or 'any CPU'}", flush=True)
    lines: list[str] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="hsmkms-rotation-") as tmp:
        print("  in process ...", flush=True)
        lines, ok = inprocess_table(inprocess(Path(tmp), args.calls, args.rounds))
        if args.skip_http:
            print()
            print("\n".join(lines))
            return 0 if ok else 1
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            bodies = capture(server)
            for case, items in bodies.items():
                run.check_replay(server.endpoint, OPERATION[case], items[0])
            assert server.proc is not None
            run.pin(server.proc.pid, server_cpus)
            load = Load(server, bodies, Path(tmp), wrk, load_cpus)
            for case in CASES:
                load.run(case, args.warmup)
            runs: dict[str, list[Run]] = {case: [] for case in CASES}
            for _ in range(args.repeat):
                for case, group in runs.items():
                    r = load.run(case, args.duration)
                    group.append(r)
                    print(f"  {case:42} {r.rps:8.0f} req/s  p50 {r.p50_ms:7.3f} ms  p99 "
                          f"{r.p99_ms:7.3f} ms  server CPU {r.server_cpu_us:7.0f} µs/req"
                          + (f"  errors {r.errors}" if r.errors else ""), flush=True)
            http_lines, http_ok = table(runs)
            lines, ok = [*http_lines, "", *lines], ok and http_ok
        finally:
            server.kill()
    print()
    print("\n".join(lines))
    print(f"CPU use by other processes after the run: {run.machine_busy():.0%} of the machine")
    print(f"(total {time.monotonic() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
