"""SQLite vs PostgreSQL, one node each, in one run (by hand, never in CI):
``python bench/postgres.py [--rev HEAD] [--duration 4] [--repeat 3]``.

Two real servers (:class:`hsmkms.testing.ServerProcess`) with the same code, one on SQLite in
its data dir (the default), one with ``--database`` on a new PostgreSQL database
(``hsmkms_bench_<random>`` on 127.0.0.1:5432, dropped at the end; ``--admin-url`` to use another
server). The same request
bodies, made with boto3 (``bench/run.py``'s ``capture_bodies``), are replayed by ``wrk`` (or the
Python generator) at 1 and 4 connections, the two servers interleaved so that drift hits both
alike. Encrypt and GenerateDataKey write no document: what the store costs them is their
CloudTrail event, written in batches by the trail's thread. TagResource (``--operations``)
rewrites its key's document on every call: the store's write path.

Printed per case: throughput of each and the ratio PostgreSQL / SQLite, p50 / p99 latency, the
hsmkms process's CPU per request, and for PostgreSQL the CPU its server processes for this
database spent per request (all of it on this same 2-core machine). The server is pinned to one
CPU and the load to the other; PostgreSQL's processes run where they can.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revision import REV_ENV, reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

import psycopg
from hsmkms.testing import ServerProcess

from run import (
    capture_bodies,
    check_replay,
    cpu_total,
    ensure_wrk,
    machine,
    machine_busy,
    pin,
    run_python,
    run_wrk,
)

OPERATIONS = ("Encrypt", "GenerateDataKey", "TagResource")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_us: float  # hsmkms CPU per request
    database_us: float  # PostgreSQL backends' CPU per request (0 for SQLite)


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    name = f"hsmkms_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving ``url``'s database (the node's connections)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND pid <> pg_backend_pid()").fetchall()
    return [int(pid) for (pid,) in rows]


def tag_bodies(server: ServerProcess, count: int) -> list[bytes]:
    """TagResource bodies as boto3 sends them (one key, a tag rewritten each call)."""
    client = server.client("kms")
    key_id = client.create_key(Description="bench tags")["KeyMetadata"]["KeyId"]
    sent: list[bytes] = []

    def record(request: Any, **_kwargs: Any) -> None:
        sent.append(request.body if isinstance(request.body, bytes) else request.body.encode())

    client.meta.events.register("before-send", record)
    for n in range(count):
        client.tag_resource(KeyId=key_id, Tags=[{"TagKey": "n", "TagValue": str(n)}])
    return sent


def bodies_for(server: ServerProcess, folder: Path
               ) -> tuple[dict[str, list[bytes]], dict[str, Path]]:
    """Request bodies for ``server`` (made with boto3 against it) and the files wrk reads."""
    bodies = capture_bodies(server)
    bodies["TagResource"] = tag_bodies(server, 16)
    files = {}
    for operation, items in bodies.items():
        files[operation] = folder.parent / f"{folder.name}-{operation}.bodies"
        files[operation].write_bytes(b"\n".join(items) + b"\n")
    return bodies, files


def measure(args: argparse.Namespace, wrk: str | None, server: ServerProcess,
            files: dict[str, Path], bodies: dict[str, list[bytes]], operation: str, conns: int,
            pg_pids: list[int], load_cpus: set[int] | None) -> Run:
    assert server.proc is not None
    pid = server.proc.pid
    cpu0, db0, wall0 = cpu_total(pid), sum(map(cpu_total, pg_pids)), time.monotonic()
    if wrk is not None:
        n, _secs, p50, p99, errors = run_wrk(wrk, server.endpoint, operation, files[operation],
                                            conns, args.duration, load_cpus)
    else:
        n, _secs, p50, p99, errors, _cpu = run_python(server.endpoint, operation,
                                                      bodies[operation], conns, args.duration,
                                                      load_cpus)
    wall = time.monotonic() - wall0
    used, db_used = cpu_total(pid) - cpu0, sum(map(cpu_total, pg_pids)) - db0
    per = 1e6 / n if n else 0.0
    return Run(n / wall if wall else 0.0, p50, p99, errors, used * per, db_used * per)


def bench(args: argparse.Namespace, workdir: Path, url: str) -> dict[tuple[str, str, int], Run]:
    wrk = None if args.loadgen == "python" else ensure_wrk()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else (None, None)
    servers = {"sqlite": ServerProcess(workdir / "sqlite"),
               "postgresql": ServerProcess(workdir / "pg", args=["--database", url])}
    for server in servers.values():
        server.start()
    try:
        # Each server gets its own key; the bodies name it.
        per_server = {name: bodies_for(server, workdir / name) for name, server in
                      servers.items()}
        for name, server in servers.items():
            assert server.proc is not None
            pin(server.proc.pid, server_cpus)
            for operation in args.operations:
                check_replay(server.endpoint, operation, per_server[name][0][operation][0])
        pg_pids = backend_pids(url)
        print(f"load: {wrk or 'python'}; hsmkms pinned to {server_cpus}, load to {load_cpus}; "
              f"{len(pg_pids)} PostgreSQL server processes for the node", flush=True)
        runs: dict[tuple[str, str, int], list[Run]] = {}
        for name, server in servers.items():  # warm-up
            measure(args, wrk, server, per_server[name][1], per_server[name][0], "Encrypt", 4,
                    [], load_cpus)
        for _ in range(args.repeat):
            for operation in args.operations:
                for conns in args.connections:
                    for name, server in servers.items():
                        run = measure(args, wrk, server, per_server[name][1],
                                      per_server[name][0], operation, conns,
                                      pg_pids if name == "postgresql" else [], load_cpus)
                        runs.setdefault((name, operation, conns), []).append(run)
                        print(f"  {name:10} {operation:15} c={conns}: {run.rps:7.0f} req/s  "
                              f"p50 {run.p50_ms:6.3f} ms  p99 {run.p99_ms:6.3f} ms  hsmkms "
                              f"{run.server_us:5.0f} µs/req  database {run.database_us:5.0f} "
                              f"µs/req" + (f"  ERRORS {run.errors}" if run.errors else ""),
                              flush=True)
        return {key: sorted(group, key=lambda r: r.rps)[len(group) // 2]
                for key, group in runs.items()}
    finally:
        for server in servers.values():
            server.kill()


def report(results: dict[tuple[str, str, int], Run], args: argparse.Namespace) -> str:
    lines = [("| operation | conns | SQLite req/s | PostgreSQL req/s | PG / SQLite | "
              "SQLite p50 / p99 ms | PG p50 / p99 ms | hsmkms CPU µs/req SQLite / PG | "
              "PG server CPU µs/req |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for operation in args.operations:
        for conns in args.connections:
            lite, pg = results[("sqlite", operation, conns)], results[("postgresql", operation,
                                                                       conns)]
            ratio = pg.rps / lite.rps if lite.rps else 0.0
            ratios.append(ratio)
            lines.append(f"| {operation} | {conns} | {lite.rps:,.0f} | {pg.rps:,.0f} | "
                         f"{ratio:.0%} | {lite.p50_ms:.3f} / {lite.p99_ms:.3f} | "
                         f"{pg.p50_ms:.3f} / {pg.p99_ms:.3f} | {lite.server_us:.0f} / "
                         f"{pg.server_us:.0f} | {pg.database_us:.0f} |")
    errors = sum(r.errors for r in results.values())
    lines.append("")
    lines.append(f"median PostgreSQL / SQLite throughput over the cases: "
                 f"{statistics.median(ratios):.0%}; errors: {errors}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs; median shown")
    parser.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 4])
    parser.add_argument("--operations", type=lambda s: s.split(","), default=list(OPERATIONS))
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help="a PostgreSQL URL allowed to create and drop a database")
    parser.add_argument("--rev", help="bench this git revision's src/ (e.g. HEAD)")
    args = parser.parse_args()
    print(f"hsmkms SQLite vs PostgreSQL bench of {os.environ.get(REV_ENV, 'the work tree')} "
          f"on {machine()}", flush=True)
    print(f"CPU use by other processes before the run: {machine_busy():.0%}", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hsmkms-pgbench-") as tmp, \
            scratch_database(args.admin_url) as url:
        results = bench(args, Path(tmp), url)
    print()
    print(report(results, args))
    print(f"CPU use by other processes after the run: {machine_busy():.0%}")
    print(f"(total {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
