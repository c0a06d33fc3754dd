"""The server keeps working under abuse (issue 10 §4): each case is a bounded probe against a
real server on 127.0.0.1, and what is asserted is that the server stays responsive, with
figures loose enough for a loaded 2-core CI machine."""

from __future__ import annotations

import json
import select
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import RawResult  # noqa: TC002 - pytest's rootdir module

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
        with pytest.raises((ConnectionError, TimeoutError)):  # noqa: PT012 - until it stops
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
        closed = False
        while not closed and time.monotonic() - started < TIMEOUT + 10:
            readable, _w, _x = select.select([sock], [], [], 0.2)
            try:
                closed = bool(readable) and sock.recv(1) == b""
                if not closed:
                    sock.sendall(b"a")
            except ConnectionError:
                closed = True
    assert closed
    assert time.monotonic() - started >= TIMEOUT - 0.5


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
        silent.extend(socket.create_connection(("127.0.0.1", proc.port), timeout=10)
                      for _ in range(1100))
        assert health_seconds(proc) < 5
        silent[0].settimeout(0.5)
        with pytest.raises(TimeoutError):
            silent[0].recv(1)  # still open: the deadline is 30 s
    finally:
        for sock in silent:
            sock.close()
        proc.kill()


# -- the fuzzer's 5xx are AWS-shaped 4xx ------------------------------------------------------


def ec2_call(server: ServerProcess, query: str, *, method: str = "POST",
             signed: bool = True) -> tuple[int, str]:
    """An EC2 query request by hand: ``(status, body text)``."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if signed:
        headers["Authorization"] = AUTH.replace("/kms/", "/ec2/")
    data = query.encode() if method == "POST" else None
    path = "/" if method == "POST" else "/?" + query
    req = urllib.request.Request(server.endpoint + path, data=data, method=method,  # noqa: S310
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def ec2_error(body: str) -> tuple[str, str]:
    error = ET.fromstring(body).find("Errors/Error")  # noqa: S314 - our own answer
    assert error is not None, body
    return error.findtext("Code") or "", error.findtext("Message") or ""


@pytest.mark.parametrize("index", ["\u0661", "\u00b2", "1" * 4300, "1" * 4301])
def test_an_ec2_list_index_that_is_no_number_is_an_unknown_parameter(
        server: ServerProcess, index: str) -> None:
    status, body = ec2_call(server, "Action=DescribeSubnets&Version=2016-11-15&"
                            + urllib.parse.urlencode({f"SubnetId.{index}": "subnet-1"}))
    assert (status, ec2_error(body)) == (400, (
        "UnknownParameter", f"The parameter SubnetId.{index} is not recognized"))


def test_deeply_nested_json_on_admin_and_cli_routes_is_a_400(
        server: ServerProcess, raw: Callable[..., RawResult]) -> None:
    status, headers, body = raw(server, None, b"[" * 100_000, path="/_hsmkms/clock")
    assert (status, headers["content-type"], json.loads(body)) == (
        400, "application/json", {"__type": "ValidationException",
                                  "message": "The request body is nested too deeply."})
    status, _h, body = raw(server, None, b'{"args": ' * 50_000, path="/_hsmkms/faults")
    assert (status, json.loads(body)["__type"]) == (400, "ValidationException")
    status, _h, body = raw(server, None, b"[" * 100_000,
                           path="/_hsmkms/cloudhsm-cli/user-list")
    assert (status, json.loads(body)) == (400, {
        "error_code": 1, "data": "The request body must be a JSON object."})
    assert health_seconds(server) < 5


def test_a_401_digit_advance_is_refused(server: ServerProcess,
                                        raw: Callable[..., RawResult]) -> None:
    before = server.admin("GET", "clock")["offset"]
    status, _h, body = raw(server, None, b'{"advance_seconds": 1' + b"0" * 400 + b"}",
                           path="/_hsmkms/clock")
    assert (status, json.loads(body)) == (400, {
        "__type": "ValidationException",
        "message": "advance_seconds would move the clock past the year 3000"})
    assert server.admin("GET", "clock")["offset"] == before


# -- nothing a web page could forge gets through ----------------------------------------------


def test_admin_routes_take_only_json_bodies(server: ServerProcess,
                                            raw: Callable[..., RawResult]) -> None:
    before = server.admin("GET", "clock")["offset"]
    refusal = {"__type": "UnsupportedMediaType", "message": (
        "Admin routes take only application/json bodies (Content-Type: application/json).")}
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/x-amz-json-1.1"):
        status, _h, body = raw(server, None, {"advance_seconds": 86400}, path="/_hsmkms/clock",
                               headers={"Content-Type": content_type})
        assert (status, json.loads(body)) == (415, refusal), content_type
    status, _h, body = raw(server, None, b"", path="/_hsmkms/clock",
                           headers={"Content-Type": "text/plain"})
    assert (status, json.loads(body)) == (415, refusal)
    status, _h, body = raw(server, None, {"args": {}}, path="/_hsmkms/cloudhsm-cli/logout",
                           headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert (status, json.loads(body)) == (415, {"error_code": 1, "data": refusal["message"]})
    assert server.admin("GET", "clock")["offset"] == before
    status, _h, body = raw(server, None, {"advance_seconds": 0}, path="/_hsmkms/clock",
                           headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert status == 200, body


def test_admin_routes_refuse_foreign_origins(server: ServerProcess,
                                             raw: Callable[..., RawResult]) -> None:
    before = server.admin("GET", "clock")["offset"]
    for origin in ("http://evil.example", "null", f"http://localhost:{server.port}",
                   "http://127.0.0.1:1"):
        status, _h, body = raw(server, None, {"advance_seconds": 86400}, path="/_hsmkms/clock",
                               headers={"Origin": origin})
        assert (status, json.loads(body)) == (403, {
            "__type": "ForbiddenOrigin",
            "message": f"Requests from web pages (Origin {origin!r}) are refused."}), origin
    assert server.admin("GET", "clock")["offset"] == before
    status, _h, _b = raw(server, None, {"advance_seconds": 0}, path="/_hsmkms/clock",
                         headers={"Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 200


def test_admin_routes_answer_only_to_their_own_host_names(
        server: ServerProcess, raw: Callable[..., RawResult]) -> None:
    """DNS rebinding: a page at ``evil.example`` whose name now resolves to 127.0.0.1."""
    for host in (f"evil.example:{server.port}", "evil.example", "127.0.0.1.nip.io"):
        status, _h, body = raw(server, None, {"args": {}}, path="/_hsmkms/cloudhsm-cli/logout",
                               headers={"Host": host})
        assert (status, json.loads(body)) == (403, {"error_code": 1, "data": (
            f"The Host header {host!r} does not name this server; admin routes answer only "
            "to a loopback name or address or the server's own.")}), host
    for host in (f"localhost:{server.port}", "127.0.0.1", f"[::1]:{server.port}",
                 "127.1.2.3:80", "LOCALHOST."):
        status, _h, body = raw(server, None, {"advance_seconds": 0}, path="/_hsmkms/clock",
                               headers={"Host": host})
        assert status == 200, (host, body)


def test_aws_requests_without_sigv4_are_refused(server: ServerProcess,
                                                raw: Callable[..., RawResult]) -> None:
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for headers in ({}, {"Authorization": "Bearer x"}):
        status, resp_headers, body = raw(server, "TrentService.ScheduleKeyDeletion",
                                         {"KeyId": key_id}, headers=headers, signed=False)
        assert (status, resp_headers["content-type"], json.loads(body)) == (
            400, "application/x-amz-json-1.1",
            {"__type": "MissingAuthenticationTokenException",
             "message": "Request is missing Authentication Token"})
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    status, _h, body = raw(server, "BaldrApiService.DescribeClusters", {}, signed=False)
    assert (status, json.loads(body)) == (400, {
        "__type": "MissingAuthenticationTokenException",
        "Message": "Request is missing Authentication Token"})


def test_an_unsigned_ec2_get_cannot_revoke_a_rule(server: ServerProcess) -> None:
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc)["GroupId"]
    rule = {"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
            "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])
    query = urllib.parse.urlencode({
        "Action": "RevokeSecurityGroupIngress", "Version": "2016-11-15", "GroupId": group,
        "IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "2223",
        "IpPermissions.1.ToPort": "2225", "IpPermissions.1.IpRanges.1.CidrIp": "10.0.0.0/8"})
    for method in ("GET", "POST"):
        status, body = ec2_call(server, query, method=method, signed=False)
        assert (status, ec2_error(body)) == (403, (
            "MissingAuthenticationToken", "Request is missing Authentication Token"))
    [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert len(described["IpPermissions"]) == 1
    # A presigned query (SigV4 in the query string) is authentication too.
    presigned = ("Action=DescribeVpcs&Version=2016-11-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                 "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Fec2%2F"
                 "aws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    assert ec2_call(server, presigned, method="GET", signed=False)[0] == 200
