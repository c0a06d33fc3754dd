"""``cloudhsm-cli`` keys end to end: generate, list (filters, pages, verbose), share, unshare,
set-attribute, delete, the owner rules and AWS's multi-match message; interactive mode."""

from __future__ import annotations

import pytest
from test_cloudhsm_cli import (
    ADMIN_PW,
    Session,
    as_admin,
    as_cu,
    failure,
    interactive,
    new_cluster,
)

from hsmkms.testing.server import ServerProcess


@pytest.fixture
def server(hsmkms_server: ServerProcess) -> ServerProcess:
    return hsmkms_server


def ok(message: str) -> dict[str, object]:
    return {"error_code": 0, "data": {"message": message}}


def test_generate_list_share_set_attribute_delete(server: ServerProcess) -> None:  # noqa: PLR0915
    cid = new_cluster(server, 2)
    for name, pw in (("alice", "alicepw1"), ("bob", "bobpass1")):
        assert as_admin(server, cid, "user", "create", "--username", name, "--role",
                        "crypto-user", "--password", pw)["error_code"] == 0
    a, b, admin = Session(server, cid), Session(server, cid), Session(server, cid)
    try:
        a.login("alice", "crypto-user", "alicepw1")
        b.login("bob", "crypto-user", "bobpass1")
        admin.login("admin", "admin", ADMIN_PW)
        made = a.run("key generate-symmetric aes --label first --key-length-bytes 24 "
                     "--attributes id=0x1a2b3c45678abcdef encrypt=true decrypt=true "
                     "--share-crypto-users bob")
        assert made["error_code"] == 0
        key = made["data"]["key"]
        ref = key["key-reference"]
        assert ref.startswith("0x")
        assert len(ref) == 18
        assert key["key-info"] == {
            "key-owners": [{"username": "alice", "key-coverage": "full"}],
            "shared-users": [{"username": "bob", "key-coverage": "full"}],
            "key-quorum-values": {"manage-key-quorum-value": 0, "use-key-quorum-value": 0},
            "cluster-coverage": "full"}
        attrs = key["attributes"]
        assert list(attrs)[:5] == ["key-type", "label", "id", "check-value", "class"]
        assert list(attrs)[-1] == "key-length-bytes"
        assert (attrs["key-type"], attrs["label"], attrs["id"], attrs["class"]) == (
            "aes", "first", "0x01a2b3c45678abcdef", "secret-key")
        assert attrs["key-length-bytes"] == 24
        assert (attrs["encrypt"], attrs["token"], attrs["local"]) == (True, True, True)
        assert (attrs["sign"], attrs["wrap"]) == (True, False)
        assert len(attrs["check-value"]) == 8

        second = a.run("key generate-symmetric aes --label second --key-length-bytes 32")[
            "data"]["key"]["key-reference"]
        assert a.run("key list") == {"error_code": 0, "data": {
            "matched_keys": [{"key-reference": ref, "attributes": {"label": "first"}},
                             {"key-reference": second, "attributes": {"label": "second"}}],
            "total_key_count": 2, "returned_key_count": 2}}
        page = a.run("key list --max-items 1")["data"]
        assert (page["next_token"], page["returned_key_count"]) == ("1", 1)
        page2 = a.run("key list --max-items 1 --starting-token 1")["data"]
        assert page2["matched_keys"][0]["key-reference"] == second
        assert "next_token" not in page2
        verbose = a.run("key list --filter attr.label=first --verbose")["data"]
        assert verbose["matched_keys"][0]["attributes"]["id"] == "0x01a2b3c45678abcdef"
        # the KMS guide's filter: attr.id="0x<backingKeyId>"
        assert a.run('key list --filter attr.id="0x1a2b3c45678abcdef"')["data"][
            "total_key_count"] == 1
        # bob sees only the key shared with him; the admin lists all, never verbosely
        assert [k["key-reference"] for k in b.run("key list")["data"]["matched_keys"]] == [ref]
        assert admin.run("key list --verbose")["data"]["matched_keys"][1] == {
            "key-reference": second, "attributes": {"label": "second"}}

        # single-key commands refuse filters that match several keys (AWS's message)
        assert a.run("key delete --filter attr.key-type=aes") == failure(
            "Key selection criteria matched 2 keys. Refine selection criteria to select a "
            "single key.")
        assert a.run("key delete --filter attr.label=nothing") == failure(
            "Key selection criteria did not match any key.")
        assert a.run("key list --filter attr.colour=red") == failure(
            "Invalid attribute name 'colour'.")
        # owner rules
        assert b.run(f"key delete --filter key-reference={ref}") == failure(
            "Only the key owner can perform this operation.")
        assert b.run(f"key set-attribute --filter key-reference={ref} --name label "
                     "--value x") == failure("Only the key owner can perform this operation.")
        assert admin.run("key generate-symmetric aes --label x --key-length-bytes 16") == \
            failure("Only crypto users can manage keys.")
        assert admin.run("user delete --username alice --role crypto-user") == failure(
            "User owns keys and cannot be deleted.")

        assert a.run("key unshare --filter attr.label=first --username bob "
                     "--role crypto-user") == ok("Key unshared successfully")
        assert b.run("key list")["data"]["total_key_count"] == 0
        assert a.run("key share --filter attr.label=first --username bob "
                     "--role crypto-user") == ok("Key shared successfully")
        assert a.run("key share --filter attr.label=first --username bob "
                     "--role crypto-user") == failure("The key is already shared with 'bob'.")
        assert a.run("key set-attribute --filter attr.label=second --name label "
                     "--value renamed") == ok("Attribute set successfully")
        assert a.run("key set-attribute --filter attr.label=renamed --name check-value "
                     "--value 0x000000") == failure(
            "Attribute 'check-value' cannot be modified.")
        assert a.run("key set-attribute --filter attr.label=renamed --name colour "
                     "--value red") == failure("Invalid attribute name 'colour'.")
        assert admin.run("key set-attribute --filter attr.label=renamed --name trusted "
                         "--value true") == ok("Attribute set successfully")
        assert a.run("key delete --filter attr.label=renamed") == ok("Key deleted successfully")
        assert a.run(f"key delete --filter key-reference={ref}") == ok(
            "Key deleted successfully")
        assert a.run("key list")["data"]["total_key_count"] == 0
        assert a.run("logout")["error_code"] == 0
        assert admin.run("user delete --username alice --role crypto-user")["error_code"] == 0
    finally:
        for s in (a, b, admin):
            s.quit()


def test_interactive_session_with_prompts_and_help(server: ServerProcess) -> None:
    cid = new_cluster(server)
    out = interactive(server, cid, [
        "help",
        "help key list",
        "user list",
        "login --username admin --role admin",
        ADMIN_PW,
        "login --username admin --role admin --password adminpass1",
        "user create --username carol --role crypto-user",
        "carolpw1",
        "carolpw1",
        "logout",
        "login --username carol --role crypto-user --password carolpw1",
        "key generate-symmetric aes --label 'with space' --key-length-bytes 16",
        'key list --filter attr.label="with space"',
        "bogus command",
        "quit",
    ])
    assert "quit     Log out" in out[0]  # the exact texts: test_cloudhsm_cli_help.py
    assert "--max-items <MAX_ITEMS>" in out[1]
    assert [u["username"] for u in out[2]["data"]["users"]] == ["admin", "app_user"]
    assert out[3] == {"error_code": 0, "data": {"username": "admin", "role": "admin"}}
    assert out[4] == failure("A user is already logged in. Log out first.")
    assert out[5] == {"error_code": 0, "data": {"username": "carol", "role": "crypto-user"}}
    assert out[6] == {"error_code": 0, "data": "Logout successful"}
    assert out[7] == {"error_code": 0, "data": {"username": "carol", "role": "crypto-user"}}
    assert out[8]["data"]["key"]["attributes"]["label"] == "with space"
    assert out[9]["data"]["total_key_count"] == 1
    assert out[10].startswith("error: unrecognized subcommand 'bogus'")


def test_session_keys_and_key_quorums_are_refused(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    assert as_admin(server, cid, "user", "create", "--username", "alice", "--role",
                    "crypto-user", "--password", "alicepw1")["error_code"] == 0
    session = failure("Session keys are not supported; generate a token key.")
    for extra in (["--session"], ["--attributes", "token=false"],
                  ["--attributes", "encrypt=true", "token=FALSE"]):
        assert as_cu(server, cid, "alice", "alicepw1", "key", "generate-symmetric", "aes",
                     "--label", "k", "--key-length-bytes", "16", *extra) == session, extra
    for flag in ("--manage-key-quorum-value", "--use-key-quorum-value"):
        assert as_cu(server, cid, "alice", "alicepw1", "key", "generate-symmetric", "aes",
                     "--label", "k", "--key-length-bytes", "16", flag, "2") == failure(
            "Key quorum values are not supported.")
    # nothing was created, on any HSM
    assert as_cu(server, cid, "alice", "alicepw1", "key", "list")["data"][
        "total_key_count"] == 0
    made = as_cu(server, cid, "alice", "alicepw1", "key", "generate-symmetric", "aes",
                 "--label", "k", "--key-length-bytes", "16", "--attributes", "token=true",
                 "--manage-key-quorum-value", "0")
    assert made["data"]["key"]["attributes"]["token"] is True


def test_label_limit_holds_for_attributes_label(server: ServerProcess) -> None:
    cid = new_cluster(server)
    assert as_admin(server, cid, "user", "create", "--username", "alice", "--role",
                    "crypto-user", "--password", "alicepw1")["error_code"] == 0
    too_long = failure("Invalid label: at most 127 characters.")
    for args in (["--label", "x" * 128], ["--label", "short", "--attributes",
                                          "label=" + "y" * 200]):
        assert as_cu(server, cid, "alice", "alicepw1", "key", "generate-symmetric", "aes",
                     "--key-length-bytes", "16", *args) == too_long
    made = as_cu(server, cid, "alice", "alicepw1", "key", "generate-symmetric", "aes",
                 "--key-length-bytes", "16", "--label", "short", "--attributes",
                 "label=" + "z" * 127)
    assert made["data"]["key"]["attributes"]["label"] == "z" * 127


def test_a_key_is_shared_with_at_most_seven_crypto_users(server: ServerProcess) -> None:
    cid = new_cluster(server)
    names = [f"cu{i}" for i in range(1, 9)]
    out = interactive(server, cid, [
        f"login --username admin --role admin --password {ADMIN_PW}",
        *(f"user create --username {n} --role crypto-user --password sharepw1"
          for n in ["alice", *names]),
        "logout",
        "login --username alice --role crypto-user --password sharepw1",
        ("key generate-symmetric aes --label eight --key-length-bytes 16 "
         f"--share-crypto-users {' '.join(names)}"),
        ("key generate-symmetric aes --label seven --key-length-bytes 16 "
         f"--share-crypto-users {' '.join(names[:7])}"),
        "key share --filter attr.label=seven --username cu8 --role crypto-user",
        "key list",
    ])
    assert all(o["error_code"] == 0 for o in out[:11]), out[:11]
    limit = failure("A key can be shared with at most 7 crypto users in addition to its "
                    "owner.")
    assert out[12] == limit
    assert [u["username"] for u in out[13]["data"]["key"]["key-info"]["shared-users"]] == \
        names[:7]
    assert out[14] == limit
    assert out[15]["data"]["total_key_count"] == 1
