"""The web console over plain HTTP (issue 15): its login in ``verify``/``enforce``, loopback
only in ``off``, writes refused from other origins, and the live timeline's server-sent events
(after an Encrypt and a DisconnectCustomKeyStore made with boto3), which neither block other
clients nor hold up a graceful stop."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import Answer, Stream, call, borrowed_address, non_loopback_address, stream
from guide_helpers import Env, build_env, module_env_server

from hsmkms.testing.server import ServerProcess


@pytest.fixture(scope="module")
def verify_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("console-verify") / "hsmkms-data"
    srv = ServerProcess(data, env={"HSMKMS_AUTH": "verify"}).start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth off``, listening on every address (so that a client can come from another
    address of this machine)."""
    srv = module_env_server(tmp_path_factory, HSMKMS_HOST="0.0.0.0")  # noqa: S104
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server)


def login(srv: ServerProcess, token: str) -> Answer:
    return call(srv.port, "POST", "/login", {"token": token})


def session_cookie(answer: Answer) -> str:
    [cookie] = answer.cookies
    return cookie.split(";")[0]


# -- login (verify/enforce) -----------------------------------------------------------------

def test_verify_mode_needs_a_login_with_the_admin_token(verify_server: ServerProcess) -> None:
    port = verify_server.port
    page = call(port, "GET", "")
    assert page.status == 200  # the page itself holds no data: it asks for the login
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b'id="login-form"' in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]

    assert call(port, "GET", "/session").json() == {"allowed": False, "login": True,
                                                     "message": "The console needs a login "
                                                     "with the admin token."}
    refused = call(port, "GET", "/api/state")
    assert refused.status == 401
    assert refused.json() == {"__type": "ConsoleUnauthorized",
                              "message": "The console needs a login with the admin token."}
    assert call(port, "GET", "/api/doctor?store=cks-1234567890abcdefg").status == 401
    status, answer = stream(port)
    assert status == 401
    assert isinstance(answer, Answer)
    assert answer.json()["__type"] == "ConsoleUnauthorized"

    wrong = login(verify_server, "not-the-token")
    assert wrong.status == 401
    assert wrong.json() == {"__type": "ConsoleUnauthorized",
                            "message": "That is not the admin token."}
    assert wrong.cookies == []
    assert login(verify_server, "").status == 401
    assert call(port, "POST", "/login", {"token": 12}).status == 401

    good = login(verify_server, verify_server.admin_token)
    assert good.status == 200
    [cookie] = good.cookies
    name, _, rest = cookie.partition("=")
    assert name == "hsmkms_console"
    attributes = [a.strip() for a in rest.split(";")[1:]]
    assert attributes == ["Path=/_hsmkms/console", "HttpOnly", "SameSite=Strict",
                          "Max-Age=43200"]
    jar = {"cookie": session_cookie(good)}
    assert call(port, "GET", "/session", headers=jar).json() == {"allowed": True, "login": True}
    state = call(port, "GET", "/api/state", headers=jar)
    assert state.status == 200
    doc = state.json()
    assert (doc["auth"], doc["login"]) == ("verify", True)
    assert call(port, "GET", "/api/state",
                headers={"cookie": "hsmkms_console=forged"}).status == 401
    # The admin bearer token works as well (scripts).
    bearer = {"authorization": f"Bearer {verify_server.admin_token}"}
    assert call(port, "GET", "/api/state", headers=bearer).status == 200
    status, opened = stream(port, headers=jar)
    assert status == 200
    assert isinstance(opened, Stream)
    opened.close()

    out = call(port, "POST", "/logout", {}, headers=jar)
    assert out.status == 200
    assert out.cookies == ["hsmkms_console=; Path=/_hsmkms/console; HttpOnly; "
                           "SameSite=Strict; Max-Age=0"]
    assert call(port, "GET", "/api/state", headers=jar).status == 401


def test_verify_mode_writes_need_the_login(verify_server: ServerProcess) -> None:
    port = verify_server.port
    origin = {"origin": f"http://127.0.0.1:{port}"}
    before = verify_server.admin("GET", "clock")["now"]
    refused = call(port, "POST", "/api/clock", {"advance_seconds": 60}, headers=origin)
    assert refused.status == 401
    assert call(port, "POST", "/api/faults",
                {"fault": "internal-error", "cluster_id": "cluster-234567abcde"},
                headers=origin).status == 401
    assert verify_server.admin("GET", "clock")["now"] - before < 60
    assert verify_server.admin("GET", "faults") == {"faults": []}


# -- loopback only (off) --------------------------------------------------------------------

def test_off_mode_answers_only_loopback_clients(server: ServerProcess) -> None:
    address = non_loopback_address() or borrowed_address()  # never a skip
    port = server.port
    assert call(port, "GET", "/api/state").status == 200
    for path in ("/api/state", "/api/doctor?store=cks-1234567890abcdefg"):
        refused = call(port, "GET", path, host=address)
        assert refused.status == 403, path
        assert refused.json() == {
            "__type": "ConsoleForbidden",
            "message": "With --auth off the console answers only to loopback clients (it has "
                       "no login); use verify or enforce to reach it from elsewhere."}
    assert call(port, "GET", "/session", host=address).json()["allowed"] is False
    assert call(port, "GET", "/session").json() == {"allowed": True, "login": False}
    status, answer = stream(port, host=address)
    assert status == 403
    assert isinstance(answer, Answer)
    assert answer.json()["__type"] == "ConsoleForbidden"
    write = call(port, "POST", "/api/clock", {"advance_seconds": 1}, host=address,
                 headers={"origin": f"http://{address}:{port}"})
    assert write.status == 403
    # Off has no login at all.
    assert call(port, "POST", "/login", {"token": "x"}).json() == {
        "__type": "ConsoleForbidden", "message": "The console has no login with --auth off."}


# -- writes from other origins --------------------------------------------------------------

def test_writes_from_another_origin_are_refused(server: ServerProcess, env: Env) -> None:
    port = server.port
    body = {"fault": "internal-error", "cluster_id": env.cluster_id}
    foreign = call(port, "POST", "/api/faults", body, headers={"origin": "http://evil.example"})
    assert foreign.status == 403
    assert foreign.json() == {"__type": "ForbiddenOrigin", "message":
                              "Requests from web pages (Origin 'http://evil.example') are "
                              "refused."}
    no_origin = call(port, "POST", "/api/faults", body)
    assert no_origin.status == 403
    assert no_origin.json() == {"__type": "ConsoleForbidden", "message":
                                "The console's writes need an Origin header naming this "
                                "server."}
    form = call(port, "POST", "/api/faults", b"fault=internal-error",
                headers={"content-type": "text/plain", "origin": f"http://127.0.0.1:{port}"})
    assert form.status == 415
    assert form.json()["__type"] == "UnsupportedMediaType"
    clock = call(port, "POST", "/api/clock", {"advance_seconds": 3600},
                 headers={"origin": "http://evil.example"})
    assert clock.status == 403
    assert server.admin("GET", "faults") == {"faults": []}

    # The same write from the console's own origin goes through, and so does the clear.
    own = {"origin": f"http://127.0.0.1:{port}"}
    added = call(port, "POST", "/api/faults", body, headers=own)
    assert added.status == 200
    fault_id = added.json()["fault_id"]
    assert [f["fault_id"] for f in server.admin("GET", "faults")["faults"]] == [fault_id]
    assert call(port, "DELETE", f"/api/faults/{fault_id}",
                headers={"origin": "http://evil.example"}).status == 403
    assert call(port, "DELETE", f"/api/faults/{fault_id}").status == 403
    cleared = call(port, "DELETE", f"/api/faults/{fault_id}", headers=own)
    assert cleared.json() == {"fault_id": fault_id, "removed": True}
    assert server.admin("GET", "faults") == {"faults": []}
    bad = call(port, "POST", "/api/faults", {"fault": "nonsense", "cluster_id": env.cluster_id},
               headers=own)
    assert bad.status == 400
    assert bad.json()["message"].startswith("fault must be one of network-errors")


# -- the live timeline ----------------------------------------------------------------------

def test_the_stream_delivers_encrypt_and_disconnect(server: ServerProcess, env: Env) -> None:
    status, opened = stream(server.port)
    assert status == 200
    assert isinstance(opened, Stream)
    assert opened.response.getheader("content-type") == "text/event-stream; charset=utf-8"
    try:
        key_id = env.kms.create_key(CustomKeyStoreId=env.store_id,
                                    Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
        env.kms.encrypt(KeyId=key_id, Plaintext=b"hello")
        encrypt = opened.until(lambda e: e["name"] == "Encrypt")
        account = env.kms.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"]
        assert {k: encrypt[k] for k in ("kind", "source", "account", "region", "error")} == {
            "kind": "call", "source": "kms", "account": account, "region": "us-east-1",
            "error": None}
        assert encrypt["detail"] == {"KeyId": key_id}

        created = opened.until(lambda e: e["kind"] == "state" and e["name"] == key_id,
                               seen=True)
        assert (created["source"], created["from"], created["to"]) == ("key", None, "Enabled")

        # Other clients are served while the stream is open.
        assert server.admin("GET", "health")["status"] == "ok"

        env.kms.disconnect_custom_key_store(CustomKeyStoreId=env.store_id)
        disconnect = opened.until(lambda e: e["name"] == "DisconnectCustomKeyStore")
        assert disconnect["detail"] == {"CustomKeyStoreId": env.store_id}
        assert disconnect["error"] is None
        server.advance(1)
        changed = opened.until(lambda e: e["kind"] == "state" and e["name"] == env.store_id
                               and e["to"] == "DISCONNECTED")
        # Seen as it went by (watched every quarter second): from DISCONNECTING, or straight
        # from CONNECTED when the disconnection finished between two looks.
        assert changed["source"] == "store"
        assert changed["from"] in ("CONNECTED", "DISCONNECTING")
        # The key is Unavailable as soon as its store is not CONNECTED any more.
        key_states = [(e["from"], e["to"]) for e in opened.events
                      if e["kind"] == "state" and e["name"] == key_id]
        assert key_states == [(None, "Enabled"), ("Enabled", "Unavailable")]
    finally:
        opened.close()
    env.connect()


def test_a_graceful_stop_ends_the_stream(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    try:
        status, opened = stream(srv.port)
        assert status == 200
        assert isinstance(opened, Stream)
        # A second stream and ordinary requests go on meanwhile.
        status, other = stream(srv.port)
        assert status == 200
        assert isinstance(other, Stream)
        srv.client("kms").create_key()
        assert opened.until(lambda e: e["name"] == "CreateKey")["error"] is None
        assert other.until(lambda e: e["name"] == "CreateKey")["error"] is None
        assert srv.stop() == 0
        # Ended by the server, completely (a cut-off chunked body raises IncompleteRead).
        try:
            for ended in (opened, other):
                while ended.next_event() is not None:
                    pass  # what happened before the stop, then the end
        except http.client.IncompleteRead as err:
            raise AssertionError("the stream was cut off, not ended") from err
        assert "timeout graceful shutdown exceeded" not in srv.log_path.read_text()
    finally:
        srv.kill()
