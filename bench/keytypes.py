"""Bench of the asymmetric and HMAC key operations (issue 11, item 6), run by hand (never in CI):
``python bench/keytypes.py [--duration 5] [--repeat 2] [--rev HEAD]``.

Against one real ``hsmkms serve`` over HTTP (loopback, keep-alive; wrk driving bench/kms.lua, or
bench/run.py's Python generator without wrk; server and load pinned to different CPUs), with
request bodies captured from boto3 as bench/run.py does:

1. **Cost against symmetric Encrypt, in the same run**, at 4 connections: Encrypt (the
   baseline), Sign with ECC_NIST_P256 (ECDSA_SHA_256) and RSA_2048 (RSASSA_PKCS1_V1_5_SHA_256),
   Verify of those signatures, GenerateMac (HMAC_256), GenerateDataKeyPair (RSA_2048 and
   ECC_NIST_P256). For each: throughput, p50/p99, and the server process's CPU time per request,
   printed as ratios to Encrypt's. CPU per request is the figure that holds on a busy machine;
   throughput ratios move with whatever else runs.
2. **RSA key generation doesn't stall other requests**: Encrypt at 4 connections alone, then the
   same while a client calls CreateKey (RSA_4096, SIGN_VERIFY) back to back; Encrypt's p99
   (target < 5 ms with the CreateKey load), p99.9 and max both ways, and the CreateKey calls made.
   ``--background Sign`` runs Sign with an RSA_4096 key back to back instead (a request that
   loads a large private key).

With ``--repeat N`` every case runs N times, interleaved; the median run is shown and the spread
(lowest-highest) of each ratio is printed beside it. An operation the server can't serve yet is
reported as missing and the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revision import REV_ENV, reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from botocore.exceptions import ClientError
from hsmkms.testing import ServerProcess

import run

BODIES = 16
MESSAGE_BYTES = 128
CONNECTIONS = 4
TARGET_STALL_P99_MS = 5.0
#: case name -> the KMS operation its bodies are for
CASES = {
    "Encrypt (symmetric)": "Encrypt",
    "Sign ECC_NIST_P256": "Sign",
    "Sign RSA_2048": "Sign",
    "Verify ECC_NIST_P256": "Verify",
    "Verify RSA_2048": "Verify",
    "GenerateMac HMAC_256": "GenerateMac",
    "GenerateDataKeyPair RSA_2048": "GenerateDataKeyPair",
    "GenerateDataKeyPair ECC_NIST_P256": "GenerateDataKeyPair",
}
BASELINE = "Encrypt (symmetric)"


@dataclass(frozen=True)
class Run:
    case: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: int
    server_cpu_us: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- request bodies, made with boto3 ------------------------------------------------------------


def capture(server: ServerProcess) -> tuple[dict[str, list[bytes]], dict[str, str]]:
    """The exact bodies boto3 sends for each case; cases the server refuses are left out, with
    the reason."""
    client = server.client("kms")
    sent: list[bytes] = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(
        request.body if isinstance(request.body, bytes) else request.body.encode()))
    bodies: dict[str, list[bytes]] = {}
    missing: dict[str, str] = {}

    def key(**kwargs: str) -> str:
        return str(client.create_key(Description="keytypes bench", **kwargs)["KeyMetadata"][
            "KeyId"])

    def messages() -> list[bytes]:
        return [os.urandom(MESSAGE_BYTES) for _ in range(BODIES)]

    def signatures(key_id: str, algorithm: str) -> list[tuple[bytes, bytes]]:
        return [(m, client.sign(KeyId=key_id, Message=m, SigningAlgorithm=algorithm)[
            "Signature"]) for m in messages()]

    plans: dict[str, Any] = {
        "Encrypt (symmetric)": lambda: [client.encrypt(KeyId=symmetric(), Plaintext=m)
                                        for m in messages()],
        "GenerateMac HMAC_256": lambda: [
            client.generate_mac(KeyId=made("HMAC_256", "GENERATE_VERIFY_MAC"), Message=m,
                                MacAlgorithm="HMAC_SHA_256") for m in messages()],
    }
    for spec, algorithm in (("ECC_NIST_P256", "ECDSA_SHA_256"),
                            ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256")):
        plans[f"Sign {spec}"] = lambda s=spec, a=algorithm: signatures(made(s, "SIGN_VERIFY"), a)
        plans[f"Verify {spec}"] = lambda s=spec, a=algorithm: [
            client.verify(KeyId=made(s, "SIGN_VERIFY"), Message=m, Signature=sig,
                          SigningAlgorithm=a) for m, sig in signatures(made(s, "SIGN_VERIFY"), a)]
    for spec in ("RSA_2048", "ECC_NIST_P256"):
        plans[f"GenerateDataKeyPair {spec}"] = lambda s=spec: [
            client.generate_data_key_pair(KeyId=symmetric(), KeyPairSpec=s)
            for _ in range(BODIES)]
    keys: dict[tuple[str, str], str] = {}

    def made(spec: str, usage: str) -> str:
        if (spec, usage) not in keys:
            keys[spec, usage] = key(KeySpec=spec, KeyUsage=usage)
        return keys[spec, usage]

    def symmetric() -> str:
        return made("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")

    for case in CASES:
        try:
            plans[case]()
        except ClientError as exc:
            err = exc.response["Error"]
            missing[case] = f"{err['Code']}: {err.get('Message', '')}"[:160]
            sent.clear()
            continue
        bodies[case] = sent[-BODIES:]  # Verify's plan signs first: keep the last 16 bodies
        sent.clear()
    return bodies, missing


# -- load ---------------------------------------------------------------------------------------


class Load:
    """One server, its case bodies on disk, and the chosen load generator."""

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
        """Wait until the server's CPU use is near zero for ``quiet`` seconds: requests a
        previous run left in its queue (an RSA operation takes tens of ms) and the work they set
        off must not be charged to the next case."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = run.cpu_total(self.pid)
            time.sleep(quiet)
            if run.cpu_total(self.pid) - before < quiet * 0.1:
                return

    def run(self, case: str, seconds: float) -> Run:
        operation = CASES[case]
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


def wrk_run(wrk: str, endpoint: str, operation: str, bodies_file: Path, seconds: float,
            cpus: set[int] | None) -> tuple[int, float, float, float, int, dict[str, Any]]:
    """bench/run.py's wrk run, also returning the whole result line (p99.9 and max)."""
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(run.HERE / "kms.lua"), endpoint + "/", "--", operation, str(bodies_file)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    doc = json.loads(line[len("BENCH "):])
    errors = sum(doc[k] for k in ("connect", "read", "write", "status", "timeout"))
    return (doc["requests"], doc["duration_us"] / 1e6, doc["p50_us"] / 1e3, doc["p99_us"] / 1e3,
            errors, doc)


class Background(threading.Thread):
    """Calls one RSA_4096 operation back to back until stopped: CreateKey (the issue's case), or
    with ``--background Sign`` Sign with an existing RSA_4096 key (loads its private key)."""

    def __init__(self, server: ServerProcess, operation: str) -> None:
        super().__init__(daemon=True)
        self.client = server.client("kms")
        self.stop = threading.Event()
        self.times: list[float] = []
        self.failures: list[str] = []
        self.call = self.create_key
        if operation == "Sign":
            self.key_id = self.client.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")[
                "KeyMetadata"]["KeyId"]
            self.call = self.sign

    def create_key(self) -> None:
        self.client.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")

    def sign(self) -> None:
        self.client.sign(KeyId=self.key_id, Message=b"bench",
                         SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                self.call()
            except ClientError as exc:
                self.failures.append(exc.response["Error"]["Code"])
                return
            self.times.append(time.perf_counter() - start)


# -- the run ------------------------------------------------------------------------------------


def cost_table(runs: dict[str, list[Run]]) -> list[str]:
    """Per case: its median run (by throughput), and the ratios to Encrypt of each round (a case
    against the Encrypt run of the same round, so drift hits both alike): median (lowest-
    highest)."""
    base = runs[BASELINE]
    lines = [("| case (c=4) | req/s | p50 / p99 ms | server CPU µs/req | throughput vs Encrypt | "
              "server CPU/req vs Encrypt |"), "|---|---:|---:|---:|---:|---:|"]
    for case, group in runs.items():
        m = sorted(group, key=lambda r: r.rps)[len(group) // 2]
        tput = [r.rps / e.rps for r, e in zip(group, base, strict=True) if e.rps]
        cpu = [r.server_cpu_us / e.server_cpu_us for r, e in zip(group, base, strict=True)
               if e.server_cpu_us]
        lines.append(f"| {case} | {m.rps:,.0f} | {m.p50_ms:.3f} / {m.p99_ms:.3f} | "
                     f"{m.server_cpu_us:,.0f} | {spread(tput)} | {spread(cpu, 'x')}"
                     + (f" errors {m.errors}" if m.errors else "") + " |")
    return lines


def spread(values: list[float], unit: str = "") -> str:
    """``median (lowest-highest)`` of the rounds' values."""
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.3g}{unit}"
    return f"{median:.3g}{unit} ({min(values):.3g}-{max(values):.3g})"


def stall_runs(load: Load, server: ServerProcess, seconds: float, repeat: int, operation: str
               ) -> tuple[list[Run], list[Run], list[float], list[str]]:
    alone, loaded, made, failures = [], [], [], []
    for _ in range(repeat):
        alone.append(load.run(BASELINE, seconds))
        maker = Background(server, operation)
        maker.start()
        loaded.append(load.run(BASELINE, seconds))
        maker.stop.set()
        maker.join(timeout=120)
        made.extend(maker.times)
        failures.extend(maker.failures)
    return alone, loaded, made, failures


def stall_report(alone: list[Run], loaded: list[Run], made: list[float],
                 failures: list[str], operation: str) -> tuple[list[str], bool]:
    lines = ["| Encrypt c=4 | req/s | p50 ms | p99 ms | p99.9 ms | max ms |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | "
              f"{r.p999_ms:.3f} | {r.max_ms:.1f} |"
              for label, group in (("alone", alone), (f"with {operation} RSA_4096", loaded))
              for r in group]
    if failures:
        return [*lines, f"MISS {operation} RSA_4096 refused: {sorted(set(failures))}"], False
    worst = max(r.p99_ms for r in loaded)
    good = worst < TARGET_STALL_P99_MS and all(r.errors == 0 for r in loaded + alone)
    mean = statistics.mean(made) if made else float("nan")
    lines += [(f"{operation} RSA_4096 calls completed under the Encrypt load: {len(made)} "
               f"(mean {mean:.2f} s each)"),
              (f"{'PASS' if good else 'MISS'} Encrypt c=4 p99 with {operation} RSA_4096 running: "
               f"worst run {worst:.3f} ms (target < {TARGET_STALL_P99_MS:g} ms); alone "
               f"{spread([r.p99_ms for r in alone], ' ms')}")]
    return lines, good


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each case, interleaved")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of Encrypt warm-up")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the server and the load generator to separate CPUs")
    parser.add_argument("--cases", type=lambda v: [x.strip() for x in v.split(",")],
                        help="comma-separated parts of case names to run (the baseline always "
                        "runs), e.g. 'Sign ECC,GenerateMac'")
    parser.add_argument("--background", choices=("CreateKey", "Sign"), default="CreateKey",
                        help="the RSA_4096 operation run back to back beside Encrypt in part 2")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-stall", action="store_true")
    parser.add_argument("--rev", help="bench this git revision's src/ (e.g. HEAD)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    print(f"hsmkms key-types bench of {os.environ.get(REV_ENV, 'the work tree')} on "
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
    ok = True
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hsmkms-keytypes-") as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            bodies, missing = capture(server)
            if BASELINE not in bodies:
                raise SystemExit(f"no baseline: {missing}")
            for case, reason in missing.items():
                out.append(f"MISSING {case}: the server refused it ({reason})")
                ok = False
            for case, items in bodies.items():
                run.check_replay(server.endpoint, CASES[case], items[0])
            assert server.proc is not None
            run.pin(server.proc.pid, server_cpus)
            load = Load(server, bodies, Path(tmp), wrk, load_cpus)
            load.run(BASELINE, args.warmup)
            if not args.skip_cost:
                runs: dict[str, list[Run]] = {
                    case: [] for case in bodies if case == BASELINE or args.cases is None
                    or any(part in case for part in args.cases)}
                for _ in range(args.repeat):
                    for case, group in runs.items():
                        r = load.run(case, args.duration)
                        group.append(r)
                        print(f"  {case:34} {r.rps:8.0f} req/s  p50 {r.p50_ms:7.3f} ms  p99 "
                              f"{r.p99_ms:7.3f} ms  server CPU {r.server_cpu_us:7.0f} µs/req"
                              + (f"  errors {r.errors}" if r.errors else ""), flush=True)
                        ok &= r.errors == 0
                out = [*cost_table(runs), "", *out]
            if not args.skip_stall:
                print(f"  Encrypt alone / with {args.background} RSA_4096 back to back ...",
                      flush=True)
                lines, good = stall_report(
                    *stall_runs(load, server, args.duration, args.repeat, args.background),
                    args.background)
                out += ["", *lines]
                ok &= good
        finally:
            server.kill()
    print()
    print("\n".join(out))
    print(f"CPU use by other processes after the run: {run.machine_busy():.0%} of the machine")
    print(f"(total {time.monotonic() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
