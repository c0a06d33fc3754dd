"""The server keeps working under abuse (issue 10 §4): each case is a bounded probe against a
real server on 127.0.0.1, and what is asserted is that the server stays responsive, with
figures loose enough for a loaded 2-core CI machine."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.connection import MAX_HEAD
from hsmkms.testing.server import ServerProcess

#: The request deadline the server under test runs with (the default is 30 s).
TIMEOUT = 2
#: A signed-looking header, so that the request reaches the service.
AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/kms/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("abuse") / "data",
                         env={"HSMKMS_REQUEST_TIMEOUT": str(TIMEOUT)}).start()
    try:
        yield proc
    finally:
        proc.kill()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.settimeout(30)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a content-length (all hsmkms sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def health_seconds(server: ServerProcess) -> float:
    """How long ``GET /_hsmkms/health`` takes on a fresh connection (it must answer 200)."""
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _h, _b = read_response(sock)
    assert status == 200
    return time.monotonic() - started


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``sock`` (fails past ``seconds``)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while True:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except ConnectionResetError:
            return time.monotonic() - started


def kms_request(headers: dict[str, str], body: bytes = b"{}") -> bytes:
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", "X-Amz-Target: TrentService.ListKeys",
             "Content-Type: application/x-amz-json-1.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- one request can't freeze the server ------------------------------------------------------


def test_headers_over_64_kib_are_refused_with_431(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(kms_request({"Authorization": "AWS4-HMAC-SHA256 " + "x" * 100_000}))
        status, headers, body = read_response(sock)
    assert status == 431
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {
        "__type": "RequestHeaderFieldsTooLarge",
        "message": f"The request line and headers are larger than the limit of {MAX_HEAD} "
                   "bytes."}
    assert health_seconds(server) < 5


def test_an_endless_header_holds_bounded_memory_and_is_refused(server: ServerProcess) -> None:
    """A client streaming one header value forever is refused once the head passes 64 KiB
    (the parser would otherwise buffer the value until it ends)."""
    with connect(server) as sock:
        sock.sendall(b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ")
        sent = 0
        with pytest.raises(OSError):  # noqa: PT012 - sending until the server stops reading
            while sent < 64 * MAX_HEAD:
                sock.sendall(b"a" * 4096)
                sent += 4096
                if sent > 2 * MAX_HEAD:
                    sock.settimeout(0.01)
        assert sent < 64 * MAX_HEAD
    assert health_seconds(server) < 5


def test_the_worst_credential_scope_under_the_limit_is_parsed_fast(
        server: ServerProcess) -> None:
    """``Credential=`` repeated ~5,900 times: a backtracking regex needs ~10^8 steps for it
    (seconds on the event loop, every client stalled); the linear parse answers at once."""
    header = "AWS4-HMAC-SHA256 " + "Credential=" * ((MAX_HEAD - 2048) // len("Credential="))
    with connect(server) as slow, connect(server) as sock:
        slow.sendall(kms_request({"Authorization": header}))
        started = time.monotonic()
        status, _h, _b = read_response(slow)
        assert time.monotonic() - started < 5
        assert status == 200  # no usable scope: the defaults apply
        sock.sendall(b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200


# -- connections are bounded ------------------------------------------------------------------


def test_a_silent_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        assert closed_within(sock, TIMEOUT + 10) >= TIMEOUT - 0.5


def test_a_slowloris_head_is_closed(server: ServerProcess) -> None:
    """A byte of header every 0.2 s: the deadline is on the whole request, not on each read."""
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        with pytest.raises(OSError):  # noqa: PT012 - trickling until the server hangs up
            while time.monotonic() - started < TIMEOUT + 10:
                sock.sendall(b"a")
                time.sleep(0.2)
                sock.settimeout(0.01)
                if sock.recv(1) == b"":
                    raise ConnectionResetError
                sock.settimeout(30)
    assert time.monotonic() - started < TIMEOUT + 10


def test_a_stalled_body_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        request = kms_request({"Authorization": AUTH}, b"{}")
        sock.sendall(request.replace(b"Content-Length: 2", b"Content-Length: 1000"))
        assert closed_within(sock, TIMEOUT + 10) >= TIMEOUT - 0.5


def test_an_idle_keep_alive_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200
        assert closed_within(sock, 30) < 20


def test_health_answers_behind_1100_silent_connections(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data").start()  # the default 30 s deadline
    silent: list[socket.socket] = []
    try:
        for _ in range(1100):
            silent.append(socket.create_connection(("127.0.0.1", proc.port), timeout=10))
        assert health_seconds(proc) < 5
        silent[0].settimeout(0.5)
        with pytest.raises(TimeoutError):
            silent[0].recv(1)  # still open: the deadline is 30 s
    finally:
        for sock in silent:
            sock.close()
        proc.kill()
