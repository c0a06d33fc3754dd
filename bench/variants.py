"""Ablations: where the server's time per request goes, by switching parts off.

``python bench/variants.py [--rev HEAD] [--seconds 3] [--repeat 3]`` serves Encrypt under wrk
(4 connections) from several variants of the server, each in its own process on the same
uvicorn stack, and prints throughput and the server's CPU time per request:

* ``bare``: ``bench/bare.py`` (parse the JSON body, answer a fixed body);
* ``adapter``: hsmkms's connection protocol and ASGI adapter (direct answers, as ``hsmkms
  serve`` runs them) with ``App.handle`` answering a canned response: their cost alone;
* ``hsmkms``: the real server, as ``hsmkms serve`` runs it;
* ``hsmkms-trail``: the real server without CloudTrail recording (the trail removed from the
  envelope's recorders): the cost of the trail (recording calls, preparing rows and the
  writer thread inserting them);
* ``hsmkms-ticker``: the real server without the 50 ms background tick (on request);
* modifiers compose, e.g. ``hsmkms-trail+timed``;
* ``hsmkms+timed``: prints the time spent inside ``App.handle`` and in the garbage collector
  when it stops (on request).

Only for measuring: the variants patch hsmkms at run time here, never in ``src/``.
"""

from __future__ import annotations

import argparse
import gc
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revision import reexec_for_revision

if __name__ == "__main__" and "--serve" not in sys.argv:
    reexec_for_revision(__file__)

VARIANTS = ("bare", "adapter", "hsmkms", "hsmkms-trail")
EXTRA = ("hsmkms-ticker", "hsmkms+timed")  # +timed: prints the time inside App.handle
#: Variant names compose: "hsmkms" followed by any of these.
MODIFIERS = {"-trail", "-ticker", "+timed"}


def serve(variant: str, port: int, data_dir: str) -> None:
    """The server side of one variant (run in a child process)."""
    import uvicorn

    from hsmkms import server
    from hsmkms.app import App
    from hsmkms.config import Config
    from hsmkms.http import HttpResponse

    mods = set(re.findall(r"[+-][a-z_.]+", variant.removeprefix("hsmkms")))
    unknown = mods - MODIFIERS
    if unknown:
        raise SystemExit(f"unknown modifiers {sorted(unknown)} in {variant}")
    app = App(Config.from_env({"data_dir": data_dir, "port": str(port)}))
    asgi: Any = server.AsgiApp(app)
    if variant == "adapter":
        canned = HttpResponse(200, b'{"KeyId": "x"}', [("content-type", "application/json")])
        app.handle = lambda _req: canned  # type: ignore[method-assign]
    if "-trail" in mods:
        app.envelope.recorders.remove(app.trail)
    if "-ticker" in mods:
        async def no_tick(_self: Any) -> None:
            return

        server.AsgiApp._tick_forever = no_tick  # type: ignore[method-assign]
    timings: list[float] = []
    if "+timed" in mods:
        handle = app.handle

        def timed(req: Any) -> Any:
            start = time.perf_counter()
            try:
                return handle(req)
            finally:
                timings.append(time.perf_counter() - start)

        app.handle = timed  # type: ignore[method-assign]
        gc.callbacks.append(_gc_timer)
        tick = app.tick

        def timed_tick() -> None:
            start = time.perf_counter()
            try:
                tick()
            finally:
                _TICKS.append(time.perf_counter() - start)

        app.tick = timed_tick  # type: ignore[method-assign]
    gc.collect()
    gc.freeze()  # as hsmkms.server.serve does
    if "+timed" in mods:  # uvicorn re-raises SIGTERM after shutdown: report before
        close = app.close

        def report_and_close() -> None:
            _report(variant, timings)
            close()

        app.close = report_and_close  # type: ignore[method-assign]
    if "-trail" not in mods:  # as hsmkms.server.serve does
        app.trail.start_writer_process(str(Path(data_dir) / "hsmkms.db"))
    # hsmkms's connection protocol, as `hsmkms serve` runs it (direct answers included).
    uvicorn.run(asgi, host="127.0.0.1", port=port, loop="uvloop", http=server._protocol(app),
                lifespan="on", log_level="warning", access_log=False,
                timeout_keep_alive=server.TIMEOUT_KEEP_ALIVE)


def _report(variant: str, timings: list[float]) -> None:
    if timings:
        timings.sort()
        print(f"[{variant}] inside App.handle: {len(timings)} calls, mean "
              f"{statistics.mean(timings) * 1e6:.1f} µs, p50 {timings[len(timings) // 2] * 1e6:.1f}"
              f" µs, p99 {timings[int(len(timings) * 0.99)] * 1e6:.1f} µs, max "
              f"{timings[-1] * 1e6:.0f} µs; garbage collector: "
              + ", ".join(f"gen{g} {n} runs {t * 1e3:.1f} ms" for g, (n, t) in
                          sorted(_GC.items()))
              + (f"; background ticks: {len(_TICKS)}, mean "
                 f"{statistics.mean(_TICKS) * 1e6:.0f} µs, max {max(_TICKS) * 1e3:.1f} ms"
                 if _TICKS else ""), file=sys.stderr, flush=True)


_GC: dict[int, list[float]] = {}
_TICKS: list[float] = []
_gc_started = [0.0]


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        entry = _GC.setdefault(info["generation"], [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - _gc_started[0]


def main() -> int:
    if "--serve" in sys.argv:
        variant, port, data_dir = sys.argv[2:5]
        serve(variant, int(port), data_dir)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--variants", type=lambda s: s.split(","), default=list(VARIANTS),
                        help=f"from {VARIANTS + EXTRA}")
    parser.add_argument("--rev")
    args = parser.parse_args()

    import run

    from hsmkms.testing import ServerProcess, free_port

    wrk = run.ensure_wrk()
    if wrk is None:
        raise SystemExit("needs wrk")
    with tempfile.TemporaryDirectory(prefix="hsmkms-variants-") as tmp:
        work = Path(tmp)
        # Bodies made with boto3 against a real server; the key's data dir is then copied so
        # every variant serves the same key.
        seed = ServerProcess(work / "seed").start()
        try:
            bodies = run.capture_bodies(seed)
        finally:
            seed.stop()
        path = work / "Encrypt.bodies"
        path.write_bytes(b"\n".join(bodies["Encrypt"]) + b"\n")
        procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            for variant in args.variants:
                port = free_port()
                if variant == "bare":
                    cmd = [sys.executable, str(run.HERE / "bare.py"), str(port)]
                else:
                    data = work / variant
                    subprocess.run(["cp", "-r", str(work / "seed"), str(data)],
                                   check=True)
                    cmd = [sys.executable, __file__, "--serve", variant, str(port), str(data)]
                proc = subprocess.Popen(cmd)
                endpoint = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        run.check_replay(endpoint, "Encrypt", bodies["Encrypt"][0])
                        break
                    except OSError:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise
                        time.sleep(0.1)
                run.pin(proc.pid, {0})
                procs[variant] = (proc, endpoint)
            results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in procs}
            for _proc, endpoint in procs.values():  # warm-up
                run.run_wrk(wrk, endpoint, "Encrypt", path, args.connections, 1, {1})
            for _ in range(args.repeat):
                for variant, (proc, endpoint) in procs.items():
                    cpu0 = run.cpu_total(proc.pid)
                    n, secs, _p50, p99, errors = run.run_wrk(
                        wrk, endpoint, "Encrypt", path, args.connections, args.seconds, {1})
                    if errors:
                        print(f"{variant}: {errors} errors")
                    cpu = (run.cpu_total(proc.pid) - cpu0) / n * 1e6
                    results[variant].append((n / secs, cpu, p99))
            print(f"\nEncrypt, {args.connections} connections, median of {args.repeat} x "
                  f"{args.seconds} s")
            print(f"{'variant':28} {'req/s':>8} {'server CPU µs/req':>18} {'p99 ms':>7}")
            for variant, rows in results.items():
                rps = statistics.median(r[0] for r in rows)
                cpu = statistics.median(r[1] for r in rows)
                p99 = statistics.median(r[2] for r in rows)
                print(f"{variant:28} {rps:8.0f} {cpu:18.1f} {p99:7.3f}")
        finally:
            for proc, _endpoint in procs.values():
                proc.terminate()
                proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
