"""The fast request path (issue 10 §1): requests answered directly on the event loop answer as
uvicorn's ASGI path does, requests that need the ASGI path still take it, and the trail's
writer process keeps what it was handed when the server is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.testing.server import ServerProcess
from hsmkms.trail.service import PREPARE_AGE, SLICE

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/kms/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("path") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def kms_request(operation: str, body: dict[str, object], *, version: str = "1.1",
                extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return (f"POST / HTTP/{version}\r\nHost: 127.0.0.1\r\n"
            f"X-Amz-Target: TrentService.{operation}\r\n"
            "Content-Type: application/x-amz-json-1.1\r\n"
            f"Authorization: {AUTH}\r\n{extra}"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (x.partition(":") for x in lines[1:])}
        size = int(headers["content-length"])
        while len(data) < size:
            data += sock.recv(65536)
        out.append((int(lines[0].split()[1]), headers, data[:size]))
        data = data[size:]
    return out


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.settimeout(30)
    return sock


def test_a_direct_answer_carries_uvicorns_headers(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(kms_request("ListKeys", {}))
        [(status, headers, body)] = read_responses(sock, 1)
    assert status == 200
    assert headers["server"] == "uvicorn"
    assert headers["date"].endswith(" GMT")
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert len(headers["x-amzn-requestid"]) == 36
    assert "Keys" in json.loads(body)
    assert "connection" not in headers  # kept alive


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(kms_request("ListKeys", {"Limit": 1})
                     + kms_request("NoSuchOperation", {})
                     + kms_request("ListAliases", {}))
        answers = read_responses(sock, 3)
    assert [status for status, _h, _b in answers] == [200, 400, 200]
    assert "Keys" in json.loads(answers[0][2])
    assert json.loads(answers[1][2])["__type"] == "UnknownOperationException"
    assert "Aliases" in json.loads(answers[2][2])


@pytest.mark.parametrize(("version", "extra"), [("1.1", "Connection: close\r\n"),
                                                ("1.0", "")])
def test_a_request_that_asks_for_it_closes_the_connection(server: ServerProcess, version: str,
                                                          extra: str) -> None:
    with connect(server) as sock:
        sock.sendall(kms_request("ListKeys", {}, version=version, extra=extra))
        [(status, headers, _body)] = read_responses(sock, 1)
        assert status == 200
        assert headers["connection"] == "close"
        assert sock.recv(1) == b""


def test_a_forwarded_request_takes_the_asgi_path_with_its_client_address(
        server: ServerProcess) -> None:
    """uvicorn's proxy-headers middleware trusts X-Forwarded-For from 127.0.0.1: the event of
    such a call names the forwarded address, as before direct answers."""
    with connect(server) as sock:
        sock.sendall(kms_request("GenerateRandom", {"NumberOfBytes": 8},
                                 extra="X-Forwarded-For: 203.0.113.9\r\n"))
        [(status, headers, _body)] = read_responses(sock, 1)
    assert status == 200
    request_id = headers["x-amzn-requestid"]
    events = server.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GenerateRandom"}])["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    [record] = [r for r in records if r["requestID"] == request_id]
    assert record["sourceIPAddress"] == "203.0.113.9"


def writer_pids(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    pids = []
    for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            pids += [int(x) for x in (task / "children").read_text().split()]
    return pids


def wait_gone(pid: int) -> None:
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} still runs")


def test_events_handed_to_the_writer_survive_kill_9(tmp_path: Path) -> None:
    """The server hands its buffered calls to its writer process after SLICE of them or once
    the oldest is PREPARE_AGE old (on its tick): once handed over, they are written even if the
    server is killed (only what was still in the server's buffer may be lost)."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        kms = server.client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        for _ in range(SLICE + 3):
            kms.encrypt(KeyId=key, Plaintext=b"p")
        # The one wait here: the tick hands the rest over once it is PREPARE_AGE old.
        time.sleep(PREPARE_AGE + 1.0)
        [writer] = writer_pids(server)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=15)
        server.proc = None
        wait_gone(writer)  # it wrote what it had and ended with its input
        server.start()
        trail = server.client("cloudtrail")
        found = trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}], MaxResults=50)["Events"]
        assert len(found) == SLICE + 3
    finally:
        server.kill()


def test_a_graceful_stop_ends_the_writer_process(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    kms = server.client("kms")
    kms.generate_random(NumberOfBytes=8)
    [writer] = writer_pids(server)
    assert server.stop() == 0
    wait_gone(writer)


def test_rsa_generation_does_not_stall_other_connections(server: ServerProcess) -> None:
    """A CreateKey RSA_4096 prepares its key material in a worker thread (hsmkms.kms.keygen),
    not on the event loop: meanwhile another connection keeps being answered. Ordering, not
    time: on the event loop, at most the one or two health checks already read before the
    CreateKey could be answered ahead of it; here many are."""
    health = b"GET /_hsmkms/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(server) as slow, connect(server) as other:
        other.sendall(health)  # both connections open and served before the CreateKey
        [(status, _, _)] = read_responses(other, 1)
        assert status == 200
        slow.sendall(kms_request("CreateKey", {"KeySpec": "RSA_4096",
                                               "KeyUsage": "SIGN_VERIFY"}))
        answered_before = 0
        slow.setblocking(False)
        while True:
            try:
                first = slow.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                first = b""
            if first:
                break
            other.sendall(health)
            [(status, _, _)] = read_responses(other, 1)
            assert status == 200
            answered_before += 1
        slow.setblocking(True)
        [(status, _, body)] = read_responses(slow, 1)
    assert status == 200, body
    assert json.loads(body)["KeyMetadata"]["KeySpec"] == "RSA_4096"
    assert answered_before >= 10  # on the event loop: 2 (measured), here thousands
