"""hsmkms benchmark, run by hand (never in CI): ``python bench/run.py [--duration 5]``.

Over HTTP (loopback, keep-alive) it measures Encrypt, Decrypt and GenerateDataKey against a real
``hsmkms serve`` (:class:`hsmkms.testing.ServerProcess`) at 1 and 4 connections, and in the same
run the same requests against a bare ASGI endpoint on the same uvicorn stack
(``bench/bare.py``: uvloop + httptools, one worker, parses the JSON body, answers a fixed body).
The load generator is ``wrk`` (installed with apt-get when missing and possible) driven by
``bench/kms.lua``; without wrk a Python generator (one process per connection) is used and its
own CPU time per request is printed, so one can see it is not the bottleneck.

In-process it times a boto3 KMS client answered by :class:`hsmkms.testing.InProcess` against the
same boto3 client whose ``before-send`` hook returns a canned response (boto3's own cost); the
difference is hsmkms's per-call overhead.

The request bodies are the exact bytes boto3 sends (captured with a ``before-send`` hook while
making the key and the ciphertexts with boto3); the headers carry ``X-Amz-Target``, the JSON 1.1
content type and a SigV4-shaped ``Authorization`` with a credential scope.

Targets (issue 10, item 1): Encrypt >= 50% of the bare endpoint's throughput, p99 < 3 ms at
4 connections, with the trail on; in-process overhead <= 0.15 ms per call (issue 2).

hsmkms's trail writer process (``hsmkms.trail.writer``) runs on the other CPU, the load
generator's; the server CPU per request printed is the server's and its writer's together.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from revision import REV_ENV, reexec_for_revision

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

if __name__ == "__main__":
    reexec_for_revision(__file__)

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config as BotoConfig
from hsmkms.testing import InProcess, ServerProcess, free_port
from hsmkms.testing.inprocess import ENDPOINT, _RawBody
from hsmkms.testing.server import TEST_CREDENTIALS

HERE = Path(__file__).resolve().parent
OPERATIONS = ("Encrypt", "Decrypt", "GenerateDataKey")
BODIES_PER_OPERATION = 16
PLAINTEXT_BYTES = 128
TARGET_RATIO = 0.50
TARGET_P99_MS = 3.0
TARGET_OVERHEAD_MS = 0.15


@dataclass(frozen=True)
class Result:
    target: str  # "hsmkms" or "bare"
    operation: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float = 0.0  # the server process's CPU time (user + system) per request
    server_busy: float = 0.0  # its CPU time / wall time: ~1.0 means the server was saturated
    client_cpu_us: float | None = None  # Python generator only: its CPU time per request
    #: The part of server_cpu_us spent in the server's child processes (the trail writer).
    child_cpu_us: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- request bodies, made with boto3 ------------------------------------------------------------


def capture_bodies(server: ServerProcess) -> dict[str, list[bytes]]:
    """Make a key and ciphertexts with boto3 and keep the exact request bodies it sent."""
    client = server.client("kms")
    sent: list[tuple[str, bytes]] = []

    def record(request: Any, **_kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        sent.append((target.rpartition(".")[2], body))

    key_id = client.create_key(Description="hsmkms bench")["KeyMetadata"]["KeyId"]
    client.meta.events.register("before-send", record)
    blobs = [client.encrypt(KeyId=key_id, Plaintext=os.urandom(PLAINTEXT_BYTES))["CiphertextBlob"]
             for _ in range(BODIES_PER_OPERATION)]
    for blob in blobs:
        client.decrypt(CiphertextBlob=blob)
    for _ in range(BODIES_PER_OPERATION):
        client.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    bodies: dict[str, list[bytes]] = {op: [] for op in OPERATIONS}
    for operation, body in sent:
        bodies[operation].append(body)
    return bodies


def check_replay(endpoint: str, operation: str, body: bytes) -> None:
    """One request as the load generator sends it must answer 200, or the bench is void."""
    req = urllib.request.Request(endpoint + "/", data=body, method="POST",  # noqa: S310
                                 headers=request_headers(operation))
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        if resp.status != 200:
            raise SystemExit(f"{endpoint} answered {resp.status} to {operation}")
        json.loads(resp.read())


def request_headers(operation: str) -> dict[str, str]:
    """The same headers bench/kms.lua sends."""
    now = time.gmtime()
    return {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"TrentService.{operation}",
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", now),
        "User-Agent": "hsmkms-bench python",
        "Authorization": ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                          f"{time.strftime('%Y%m%d', now)}/us-east-1/kms/aws4_request, "
                          "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                          "Signature=" + "5d" * 32),
    }


# -- the servers --------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (hsmkms: its trail writer process)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                found += [int(x) for x in (task / "children").read_text().split()]
    return found


def pin(pid: int, cpus: set[int] | None, other: set[int] | None = None) -> None:
    """Pin every thread of ``pid`` to ``cpus`` (server on one core, load on the other), and
    its child processes (the trail writer) to ``other``."""
    if not cpus:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)
    for child in children(pid):
        for task in Path(f"/proc/{child}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), other or cpus)


@contextlib.contextmanager
def bare_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = (workdir / "bare.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(HERE / "bare.py"), str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise SystemExit("bench/bare.py exited: " + (workdir / "bare.log").read_text())
            try:
                check_replay(endpoint, "Encrypt", b"{}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield endpoint, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU time so far of a process, and of its child processes (Linux
    ``/proc``)."""
    times = []
    for each in (pid, *children(pid)):
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        times.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return times[0], sum(times[1:])


def cpu_total(pid: int) -> float:
    """User + system CPU time so far of a process and its child processes together (the
    server with its trail writer)."""
    return sum(cpu_seconds(pid))


# -- load generators ----------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    path = shutil.which("wrk")
    if path or not shutil.which("apt-get") or os.geteuid() != 0:
        return path
    print("wrk is missing: installing it with apt-get ...", flush=True)
    for cmd in (["apt-get", "install", "-y", "-qq", "wrk"],
                ["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(cmd, check=False, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def run_wrk(wrk: str, endpoint: str, operation: str, bodies_file: Path, connections: int,
            seconds: float, cpus: set[int] | None) -> tuple[int, float, float, float, int]:
    seconds_ = max(1, round(seconds))  # wrk takes whole seconds
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds_}s", "--timeout", "5s",
           "-s", str(HERE / "kms.lua"), endpoint + "/", "--", operation, str(bodies_file)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    doc = json.loads(line[len("BENCH "):])
    errors = sum(doc[k] for k in ("connect", "read", "write", "status", "timeout"))
    return (doc["requests"], doc["duration_us"] / 1e6, doc["p50_us"] / 1e3, doc["p99_us"] / 1e3,
            errors)


def _raw_request(host: str, port: int, operation: str, body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in request_headers(operation).items())
    return (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _python_connection(args: tuple[str, int, list[bytes], float, float, set[int] | None]
                       ) -> tuple[list[int], int, float]:
    """One keep-alive connection, one request in flight: (latencies ns, errors, CPU s)."""
    host, port, requests, warmup, seconds, cpus = args
    if cpus:
        os.sched_setaffinity(0, cpus)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: list[int] = []
    errors, i, buf = 0, 0, b""
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + seconds
    cpu0 = 0.0
    measuring = False
    while True:
        now = time.perf_counter()
        if not measuring and now >= measure_from:
            measuring, cpu0 = True, time.process_time()
        if now >= stop:
            break
        t0 = time.perf_counter_ns()
        sock.sendall(requests[i % len(requests)])
        i += 1
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n")
                      if x.lower().startswith(b"content-length:"))
        while len(buf) < length:
            buf += sock.recv(65536)
        buf = buf[length:]
        if measuring:
            latencies.append(time.perf_counter_ns() - t0)
            errors += head[9:12] != b"200"
    cpu = time.process_time() - cpu0
    sock.close()
    return latencies, errors, cpu


def run_python(endpoint: str, operation: str, bodies: list[bytes], connections: int,
               seconds: float, cpus: set[int] | None
               ) -> tuple[int, float, float, float, int, float]:
    host, port = endpoint.removeprefix("http://").split(":")
    requests = [_raw_request(host, int(port), operation, b) for b in bodies]
    job = (host, int(port), requests, 0.5, seconds, cpus)
    with multiprocessing.get_context("fork").Pool(connections) as pool:
        parts = pool.map(_python_connection, [job] * connections)
    latencies = sorted(x for lat, _e, _c in parts for x in lat)
    errors = sum(e for _l, e, _c in parts)
    cpu = sum(c for _l, _e, c in parts)
    n = len(latencies)
    p50 = latencies[n // 2] / 1e6 if n else 0.0
    p99 = latencies[min(n - 1, int(n * 0.99))] / 1e6 if n else 0.0
    return n, seconds, p50, p99, errors, cpu / n * 1e6 if n else 0.0


# -- in-process ---------------------------------------------------------------------------------


def _canned_client(responses: dict[str, tuple[int, dict[str, str], bytes]]) -> Any:
    """A boto3 KMS client whose requests never leave boto3: before-send answers canned bytes."""
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=ENDPOINT,
                          config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}),
                          **TEST_CREDENTIALS)

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        status, headers, body = responses[target.rpartition(".")[2]]
        return AWSResponse(request.url, status, headers, _RawBody(body))

    client.meta.events.register("before-send", answer)
    return client


def _per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """CPU µs per call of this thread: in-process calls never wait, so this is their time, and
    other work on the machine (waiting for a CPU) doesn't count."""
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls * 1e6


def bench_inprocess(workdir: Path, calls: int, rounds: int) -> list[tuple[str, float, float]]:
    """(operation, µs per call through InProcess, µs per call with a canned response)."""
    with InProcess(workdir / "inprocess") as inproc:
        live = inproc.client("kms")
        key_id = live.create_key()["KeyMetadata"]["KeyId"]
        plaintext = os.urandom(PLAINTEXT_BYTES)
        blob = live.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        calls_by_op: dict[str, Callable[[Any], Any]] = {
            "Encrypt": lambda c: c.encrypt(KeyId=key_id, Plaintext=plaintext),
            "Decrypt": lambda c: c.decrypt(CiphertextBlob=blob),
            "GenerateDataKey": lambda c: c.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        }
        # Canned answers: real responses of this very app, captured once.
        responses: dict[str, tuple[int, dict[str, str], bytes]] = {}

        def capture(request: Any, **kwargs: Any) -> AWSResponse:
            resp = inproc.send(request, **kwargs)
            body = resp.content
            target = request.headers["X-Amz-Target"]
            target = target.decode() if isinstance(target, bytes) else target
            responses[target.rpartition(".")[2]] = (resp.status_code, dict(resp.headers), body)
            return AWSResponse(request.url, resp.status_code, resp.headers, _RawBody(body))

        recorder = boto3.client("kms", region_name="us-east-1", endpoint_url=ENDPOINT,
                                config=BotoConfig(retries={"max_attempts": 1,
                                                           "mode": "standard"}),
                                **TEST_CREDENTIALS)
        recorder.meta.events.register("before-send", capture)
        for call in calls_by_op.values():
            call(recorder)
        canned = _canned_client(responses)
        out = []
        for operation, call in calls_by_op.items():
            for client in (live, canned):  # warm both (first call loads models, caches)
                _per_call_us(lambda c=client, f=call: f(c), calls // 4)
            live_us, canned_us = [], []
            for _ in range(rounds):  # interleaved, so drift hits both alike
                live_us.append(_per_call_us(lambda f=call: f(live), calls))
                canned_us.append(_per_call_us(lambda f=call: f(canned), calls))
            out.append((operation, min(live_us), min(canned_us)))  # the least disturbed
        return out


# -- the run ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import uvicorn

    return (f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"uvicorn {uvicorn.__version__} (uvloop + httptools, 1 worker)")


def machine_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from ``/proc/stat``): load we don't control."""

    def sample() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values[:8]) - idle, sum(values[:8])

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (busy1 - busy0) / max(1, total1 - total0)


def client_note(result: Result, load_cpus: set[int] | None) -> str:
    """The Python generator's own CPU use: far below its CPUs' capacity means it only waited
    for the server, so it was not the bottleneck."""
    if result.client_cpu_us is None:
        return ""
    cpus = len(load_cpus) if load_cpus else os.cpu_count() or 1
    share = result.client_cpu_us * result.rps / 1e6 / min(cpus, result.connections)
    verdict = "not the bottleneck" if share < 0.7 else "MAY BE THE BOTTLENECK"
    return (f"  (generator CPU {result.client_cpu_us:.0f} µs/req = {share:.0%} of its CPUs: "
            f"{verdict})")


def http_bench(args: argparse.Namespace, workdir: Path) -> list[Result]:
    wrk = None if args.loadgen == "python" else ensure_wrk()
    if args.loadgen == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed")
    cpus = os.sched_getaffinity(0)
    server_cpus = load_cpus = None
    if args.pin and len(cpus) >= 2:
        first, second = sorted(cpus)[:2]
        server_cpus, load_cpus = {first}, {second}
    print(f"load generator: {wrk or 'python (one process per connection)'}; "
          f"servers pinned to {server_cpus or 'any CPU'}, load to {load_cpus or 'any CPU'}",
          flush=True)
    server = ServerProcess(workdir / "data").start()
    results: list[Result] = []
    try:
        assert server.proc is not None
        bodies = capture_bodies(server)
        files = {}
        for operation, items in bodies.items():
            files[operation] = workdir / f"{operation}.bodies"
            files[operation].write_bytes(b"\n".join(items) + b"\n")
        with bare_server(workdir) as (bare_endpoint, bare_proc):
            endpoints = {"bare": bare_endpoint, "hsmkms": server.endpoint}
            pin(server.proc.pid, server_cpus, load_cpus)
            pin(bare_proc.pid, server_cpus)
            for operation in args.operations:
                for endpoint in endpoints.values():
                    check_replay(endpoint, operation, bodies[operation][0])

            pids = {"bare": bare_proc.pid, "hsmkms": server.proc.pid}

            def one(target: str, operation: str, conns: int, seconds: float) -> Result:
                endpoint = endpoints[target]
                (cpu0, child0), wall0 = cpu_seconds(pids[target]), time.monotonic()
                if wrk is not None:
                    n, secs, p50, p99, errors = run_wrk(wrk, endpoint, operation,
                                                        files[operation], conns, seconds,
                                                        load_cpus)
                    cpu = None
                else:
                    n, secs, p50, p99, errors, cpu = run_python(
                        endpoint, operation, bodies[operation], conns, seconds, load_cpus)
                cpu1, child1 = cpu_seconds(pids[target])
                used, child = cpu1 - cpu0, child1 - child0
                busy = used / (time.monotonic() - wall0)
                return Result(target, operation, conns, n, secs, p50, p99, errors,
                              (used + child) / n * 1e6 if n else 0.0, busy, cpu,
                              child / n * 1e6 if n else 0.0)

            for target in endpoints:  # warm-up: imports, caches, the key's cipher
                one(target, "Encrypt", 4, args.warmup)
            runs: dict[tuple[str, str, int], list[Result]] = {}
            for _ in range(args.repeat):
                for operation in args.operations:
                    for conns in args.connections:
                        for target in ("bare", "hsmkms"):
                            result = one(target, operation, conns, args.duration)
                            runs.setdefault((target, operation, conns), []).append(result)
                            print(f"  {target:6} {operation:15} c={conns}: {result.rps:8.0f} "
                                  f"req/s  p50 {result.p50_ms:6.3f} ms  p99 "
                                  f"{result.p99_ms:6.3f} ms  server CPU "
                                  f"{result.server_cpu_us:5.1f} µs/req (busy "
                                  f"{result.server_busy:.0%})"
                                  + (f" of which trail writer {result.child_cpu_us:.1f}"
                                     if result.child_cpu_us else "")
                                  + (f"  errors {result.errors}" if result.errors else "")
                                  + client_note(result, load_cpus), flush=True)
            # with --repeat: the run of median throughput
            results.extend(sorted(group, key=lambda r: r.rps)[len(group) // 2]
                           for group in runs.values())
    finally:
        server.kill()
    return results


def report(results: list[Result], inproc: list[tuple[str, float, float]]) -> tuple[str, bool]:
    lines = [("| operation | conns | bare req/s | hsmkms req/s | ratio | bare p50 / p99 ms "
              "| hsmkms p50 / p99 ms | server CPU µs/req bare / hsmkms (trail writer) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ok = True
    verdicts = []
    by_key = {(r.target, r.operation, r.connections): r for r in results}
    for (target, operation, conns), hsm in by_key.items():
        if target != "hsmkms":
            continue
        bare = by_key[("bare", operation, conns)]
        ratio = hsm.rps / bare.rps if bare.rps else 0.0
        lines.append(f"| {operation} | {conns} | {bare.rps:,.0f} | {hsm.rps:,.0f} | "
                     f"{ratio:.0%} | {bare.p50_ms:.3f} / {bare.p99_ms:.3f} | "
                     f"{hsm.p50_ms:.3f} / {hsm.p99_ms:.3f} | "
                     f"{bare.server_cpu_us:.0f} / {hsm.server_cpu_us:.0f} "
                     f"({hsm.child_cpu_us:.0f}) |")
        if hsm.errors or bare.errors:
            ok = False
            verdicts.append(f"FAIL {operation} c={conns}: {hsm.errors} hsmkms errors, "
                            f"{bare.errors} bare errors (non-200 or socket errors)")
        if operation == "Encrypt":
            good = ratio >= TARGET_RATIO
            ok &= good
            cpu_ratio = bare.server_cpu_us / hsm.server_cpu_us if hsm.server_cpu_us else 0.0
            own = hsm.server_cpu_us - hsm.child_cpu_us
            own_ratio = bare.server_cpu_us / own if own > 0 else 0.0
            verdicts.append(f"{'PASS' if good else 'MISS'} Encrypt c={conns} throughput "
                            f"{ratio:.1%} of bare (target >= {TARGET_RATIO:.0%}); by server "
                            f"CPU per request {cpu_ratio:.1%} (the server process alone, without "
                            f"its trail writer: {own_ratio:.1%})")
        if conns == 4:
            good = hsm.p99_ms < TARGET_P99_MS
            ok &= good
            verdicts.append(f"{'PASS' if good else 'MISS'} {operation} c=4 p99 "
                            f"{hsm.p99_ms:.3f} ms (target < {TARGET_P99_MS:g} ms)")
    if inproc:
        lines += ["", ("| in-process operation | InProcess µs/call | canned µs/call "
                       "(boto3 alone) | hsmkms overhead ms/call |"), "|---|---:|---:|---:|"]
        for operation, live, canned in inproc:
            overhead = (live - canned) / 1e3
            lines.append(f"| {operation} | {live:.0f} | {canned:.0f} | {overhead:.3f} |")
            good = overhead <= TARGET_OVERHEAD_MS
            ok &= good
            verdicts.append(f"{'PASS' if good else 'MISS'} in-process {operation} overhead "
                            f"{overhead:.3f} ms/call (target <= {TARGET_OVERHEAD_MS} ms)")
    return "\n".join([*lines, "", *verdicts]), ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per HTTP run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each case, interleaved; the median one is reported")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 4], help="comma-separated connection counts (default 1,4)")
    parser.add_argument("--operations", type=lambda s: s.split(","), default=list(OPERATIONS))
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the servers and the load generator to separate CPUs")
    parser.add_argument("--calls", type=int, default=400, help="in-process calls per round")
    parser.add_argument("--rounds", type=int, default=7,
                        help="in-process rounds per mode (the best round is reported)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--rev", help="bench this git revision's src/ (e.g. HEAD) instead of "
                        "the work tree, which other people may be editing")
    args = parser.parse_args(argv)
    unknown = set(args.operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; choose from {OPERATIONS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    source = os.environ.get(REV_ENV, "the work tree")
    print(f"hsmkms bench of {source} on {machine()}", flush=True)
    print(f"CPU use by other processes before the run: {machine_busy():.0%} of the machine "
          "(figures are noisy when this is not near 0%)", flush=True)
    with tempfile.TemporaryDirectory(prefix="hsmkms-bench-") as tmp:
        workdir = Path(tmp)
        results = [] if args.skip_http else http_bench(args, workdir)
        inproc = []
        if not args.skip_inprocess:
            print("in-process (boto3 through InProcess vs the same client answered by a canned "
                  "before-send hook) ...", flush=True)
            inproc = bench_inprocess(workdir, args.calls, args.rounds)
    text, ok = report(results, inproc)
    text += (f"\nCPU use by other processes after the run: {machine_busy():.0%} of the "
             "machine")
    print()
    print(text)
    print(f"\n(total {time.monotonic() - began:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({
            "http": [{**r.__dict__, "rps": r.rps} for r in results],
            "inprocess": [{"operation": o, "inprocess_us": a, "canned_us": b}
                          for o, a, b in inproc]}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
