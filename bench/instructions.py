"""Instructions per request, bare endpoint against hsmkms, under callgrind: a measure that
other load on the machine does not disturb. ``python bench/instructions.py [--requests 3000]
[--connections 4] [--rev HEAD]``.

Each server (``bench/bare.py``, then ``hsmkms serve``) runs under ``valgrind --tool=callgrind
--instr-atstart=no``; after a warm-up, counting is switched on (``callgrind_control -i on``),
``--requests`` Encrypt requests are sent over ``--connections`` keep-alive connections (one
request in flight on each), then, for hsmkms, one ``LookupEvents`` (it writes every pending
trail event, so the trail's whole cost falls inside the window), and the counts are dumped.
Printed: user-space instructions (Ir) per request of every thread of the server, and the ratio
bare / hsmkms, which is what the throughput ratio would be if instructions were time (system
calls and the kernel's network stack are not counted: they are about the same per request for
both). Needs ``valgrind`` (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from hsmkms.testing import free_port

from run import request_headers

HERE = Path(__file__).resolve().parent
LOOKUP_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


def raw_request(port: int, target: str, body: bytes) -> bytes:
    headers = request_headers("Encrypt")
    headers["X-Amz-Target"] = target
    if not target.startswith("TrentService."):
        headers["Authorization"] = headers["Authorization"].replace("/kms/", "/cloudtrail/")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        length = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n")
                      if x.lower().startswith(b"content-length:"))
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(head[9:12]), body

    def call(self, data: bytes) -> bytes:
        self.send(data)
        status, body = self.read()
        if status != 200:
            raise SystemExit(f"answered {status}: {body[:300]!r}")
        return body


def drive(conns: list[Conn], request: bytes, count: int) -> None:
    """``count`` requests, one in flight on each connection."""
    sent = 0
    while sent < count:
        batch = conns[:count - sent]
        for conn in batch:
            conn.send(request)
        for conn in batch:
            status, body = conn.read()
            if status != 200:
                raise SystemExit(f"answered {status}: {body[:300]!r}")
        sent += len(batch)


def wait_up(port: int, proc: subprocess.Popen[bytes], probe: bytes) -> None:
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            Conn(port).call(probe)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` and theirs (hsmkms's trail writer, granian's worker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            for child in (task / "children").read_text().split():
                found += [int(child), *children(int(child))]
    return found


def totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def measure(target: str, args: argparse.Namespace, workdir: Path) -> tuple[float, float]:
    """Instructions per request of the server process (all its threads) and of its child
    processes (hsmkms's trail writer; granian's worker)."""
    port = free_port()
    out = workdir / f"{target}.callgrind"
    if target == "bare" and args.bare_server == "granian":
        # The same ASGI app under granian (pip install granian; not a dependency), one worker.
        cmd = [str(Path(sys.executable).with_name("granian")), "--interface", "asgi",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--runtime-threads", "1", "--loop", "uvloop", "--no-ws", "--log-level",
               "warning", "--working-dir", str(HERE), "bare:app"]
    elif target == "bare":
        cmd = [sys.executable, str(HERE / "bare.py"), str(port)]
    else:
        cmd = [sys.executable, "-m", "hsmkms", "serve", "--port", str(port),
               "--data-dir", str(workdir / "data")]
    log = (workdir / f"{target}.log").open("wb")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             "--separate-threads=yes", "--trace-children=yes",
                             f"--callgrind-out-file={out}.%p", *cmd],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        plaintext = base64.b64encode(os.urandom(128)).decode()
        wait_up(port, proc, raw_request(port, "TrentService.Encrypt", b"{}")
                if target == "bare" else raw_request(port, "TrentService.ListKeys", b"{}"))
        key_id = "k"
        if target == "hsmkms":
            created = Conn(port).call(raw_request(port, "TrentService.CreateKey", b"{}"))
            key_id = json.loads(created)["KeyMetadata"]["KeyId"]
        body = json.dumps({"KeyId": key_id, "Plaintext": plaintext}).encode()
        request = raw_request(port, "TrentService.Encrypt", body)
        conns = [Conn(port) for _ in range(args.connections)]
        drive(conns, request, args.warmup)
        pids = [proc.pid, *children(proc.pid)]  # the trail's writer process too
        for pid in pids:
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True,
                           capture_output=True)
        drive(conns, request, args.requests)
        if target == "hsmkms":
            conns[0].call(raw_request(port, LOOKUP_TARGET, b'{"MaxResults": 1}'))
        for pid in pids:
            subprocess.run(["callgrind_control", "-d", str(pid)], check=True,
                           capture_output=True)
        # One file per process and thread: those of the dump ("<pid>.1-<thread>").
        dumps = [p for p in workdir.glob(f"{target}.callgrind.*") if "-" in p.name]
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for p in dumps:
                shutil.copy(p, args.keep / p.name)
        by_pid: dict[int, int] = {}
        for p in dumps:
            pid = int(p.name.split(".")[2])
            by_pid[pid] = by_pid.get(pid, 0) + totals(p)
        main = by_pid.pop(proc.pid, 0) / args.requests
        others = sum(by_pid.values()) / args.requests
        return main, others
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rev", help="measure this git revision's src/ (e.g. HEAD)")
    parser.add_argument("--only", choices=("bare", "hsmkms"))
    parser.add_argument("--bare-server", choices=("uvicorn", "granian"), default="uvicorn",
                        help="serve bench/bare.py with uvicorn (as hsmkms) or granian")
    parser.add_argument("--keep", type=Path, help="copy the callgrind outputs to this folder "
                        "(callgrind_annotate reads them), one file per thread")
    args = parser.parse_args()
    label = os.environ.get("HSMKMS_BENCH_REV", "work tree")
    with tempfile.TemporaryDirectory(prefix="hsmkms-instr-") as tmp:
        results = {}
        for target in ("bare", "hsmkms"):
            if args.only in (None, target):
                main, others = measure(target, args, Path(tmp))
                results[target] = (main, others)
                print(f"{label}: {target:6} Encrypt c={args.connections}: "
                      f"{(main + others) / 1e3:,.0f} k instructions/request: "
                      f"{main / 1e3:,.0f} k in the server process, {others / 1e3:,.0f} k in "
                      "its child processes", flush=True)
    if len(results) == 2:
        bare, hsmkms = sum(results["bare"]), results["hsmkms"]
        print(f"bare / hsmkms server process: {bare / hsmkms[0]:.1%}; "
              f"bare / hsmkms with its trail writer process: {bare / sum(hsmkms):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
