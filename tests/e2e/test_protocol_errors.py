"""Bad requests at the wire level (raw HTTP): each gets a clear AWS-shaped JSON 1.1 error and
changes nothing (spec kms.md 4.1, 4.6)."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from hsmkms.testing.server import ServerProcess

CT = "application/x-amz-json-1.1"
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def key_count(server: ServerProcess) -> int:
    return len(server.client("kms").list_keys(Limit=1000)["Keys"])


def check_error(result: tuple[int, dict[str, str], bytes], status: int, code: str,
                message: str | None) -> None:
    got_status, headers, body = result
    doc = json.loads(body)
    assert (got_status, doc.get("__type"), doc.get("message")) == (status, code, message), body
    assert set(doc) <= {"__type", "message"}
    assert headers["content-type"] == CT


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("truncated", b'{"Description": "x"', "SerializationException"),
    ("not json", b"hello", "SerializationException"),
    ("array", b"[]", "SerializationException"),
    ("null", b"null", "SerializationException"),
    ("number", b"42", "SerializationException"),
    ("invalid utf-8", b'{"Description": "\xff\xfe"}', "SerializationException"),
    ("string for bool", b'{"MultiRegion": "yes"}', "SerializationException"),
    ("string for list", b'{"Tags": "a=b"}', "SerializationException"),
    ("object for string", b'{"Description": {}}', "SerializationException"),
    ("number for string", b'{"Description": 5}', "SerializationException"),
    ("null list item", b'{"Tags": [null]}', "SerializationException"),
    ("number tag value", b'{"Tags": [{"TagKey": "a", "TagValue": 1}]}',
     "SerializationException"),
    ("bad enum", b'{"KeyUsage": "BOGUS"}', "ValidationException"),
]


@pytest.mark.parametrize(("name", "body", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_create_key_bodies_change_nothing(module_server: ServerProcess, raw: Callable[..., Any],
                                              name: str, body: bytes, code: str) -> None:
    before = key_count(module_server)
    status, headers, resp = raw(module_server, "TrentService.CreateKey", body)
    doc = json.loads(resp)
    assert status == 400, (name, resp)
    assert doc["__type"] == code
    assert doc["message"]
    assert headers["content-type"] == CT
    assert headers["x-amzn-requestid"]
    assert key_count(module_server) == before


def test_type_error_messages(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    check_error(raw(module_server, "TrentService.GenerateRandom", {"NumberOfBytes": "32"}), 400,
                "SerializationException",
                "Expected integer at 'NumberOfBytes' but found a JSON string.")
    check_error(raw(module_server, "TrentService.GenerateRandom", {"NumberOfBytes": 1.5}), 400,
                "SerializationException",
                "Expected integer at 'NumberOfBytes' but found a JSON number.")
    check_error(raw(module_server, "TrentService.GenerateRandom", {"NumberOfBytes": True}), 400,
                "SerializationException",
                "Expected integer at 'NumberOfBytes' but found a JSON boolean.")
    check_error(raw(module_server, "TrentService.Encrypt",
                    {"KeyId": "alias/x", "Plaintext": "not base64!"}), 400,
                "SerializationException",
                "Value at 'Plaintext' is not valid base64-encoded binary data.")
    check_error(raw(module_server, "TrentService.CreateKey", {"Tags": [{"TagKey": 1}]}), 400,
                "SerializationException",
                "Expected string at 'Tags[0].TagKey' but found a JSON number.")
    # A whole-number float is an integer in JSON.
    status, _h, body = raw(module_server, "TrentService.GenerateRandom", {"NumberOfBytes": 4.0})
    assert status == 200
    assert len(base64.b64decode(json.loads(body)["Plaintext"])) == 4


def test_validation_messages(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    """An enum's message lists the values of the model hsmkms ships (botocore 1.44.8's KMS
    model, which added ``ENCAPSULATE_DECAPSULATE``), as AWS's lists those of its model."""
    check_error(raw(module_server, "TrentService.GenerateRandom", {"NumberOfBytes": 1025}), 400,
                "ValidationException",
                "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
                "constraint: Member must have value less than or equal to 1024")
    check_error(raw(module_server, "TrentService.Encrypt", {"KeyId": "", "Plaintext": ""}), 400,
                "ValidationException",
                "2 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1; Value at 'plaintext' failed "
                "to satisfy constraint: Member must have length greater than or equal to 1")
    check_error(raw(module_server, "TrentService.Encrypt", {}), 400, "ValidationException",
                "2 validation errors detected: Value null at 'keyId' failed to satisfy "
                "constraint: Member must not be null; Value null at 'plaintext' failed to satisfy "
                "constraint: Member must not be null")
    check_error(raw(module_server, "TrentService.CreateKey",
                    {"KeyUsage": "NOPE", "Description": "d" * 8193,
                     "Tags": [{"TagKey": "", "TagValue": "v"}]}), 400,
                "ValidationException",
                "3 validation errors detected: Value '" + "d" * 8193 + "' at 'description' "
                "failed to satisfy constraint: Member must have length less than or equal to "
                "8192; Value 'NOPE' at 'keyUsage' failed to satisfy constraint: Member must "
                "satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, "
                "KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]; Value '' at 'tags.1.member.tagKey' "
                "failed to satisfy constraint: Member must have length greater than or equal "
                "to 1")
    plaintext = base64.b64encode(b"x" * 4097).decode()
    check_error(raw(module_server, "TrentService.Encrypt",
                    {"KeyId": "alias/x", "Plaintext": plaintext}), 400, "ValidationException",
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                "Member must have length less than or equal to 4096")


def test_unknown_operation(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    check_error(raw(module_server, "TrentService.Nope", {}), 400, "UnknownOperationException",
                "Operation Nope is not supported by TrentService.")
    check_error(raw(module_server, "NoSuchService_2020.Encrypt", {}), 400,
                "UnknownOperationException", "Unknown target NoSuchService_2020.Encrypt.")
    check_error(raw(module_server, "TrentService", {}), 400, "UnknownOperationException",
                "Unknown target TrentService.")


def test_oversized_body(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    before = key_count(module_server)
    big = json.dumps({"Description": "x" * (1024 * 1024)}).encode()
    status, headers, body = raw(module_server, "TrentService.CreateKey", big)
    assert status == 413
    assert headers["content-type"] == CT
    assert REQUEST_ID.match(headers["x-amzn-requestid"])
    assert json.loads(body) == {
        "__type": "RequestEntityTooLargeException",
        "message": "The request body is larger than the limit of 1048576 bytes."}
    assert key_count(module_server) == before
    # The server is fine afterwards.
    assert module_server.client("kms").generate_random(NumberOfBytes=1)["Plaintext"]


def test_every_response_has_a_request_id(module_server: ServerProcess,
                                         raw: Callable[..., Any]) -> None:
    """Errors outside any service (no target, an admin route) carry x-amzn-RequestId too."""
    try:
        urllib.request.urlopen(module_server.endpoint + "/elsewhere", timeout=30)  # noqa: S310
    except urllib.error.HTTPError as err:
        unrouted = (err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
    responses = [raw(module_server, "TrentService.Nope", {}), unrouted,
                 raw(module_server, None, {"advance_seconds": 0}, path="/_hsmkms/clock"),
                 raw(module_server, None, {}, path="/_hsmkms/nothing-here")]
    ids = [headers["x-amzn-requestid"] for _status, headers, _body in responses]
    assert all(REQUEST_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    status, headers, body = unrouted
    assert (status, headers["content-type"], json.loads(body)) == (
        404, CT, {"__type": "UnknownOperationException",
                  "message": "No AWS service answers this request."})


def test_empty_body_is_an_empty_object(module_server: ServerProcess,
                                       raw: Callable[..., Any]) -> None:
    status, headers, body = raw(module_server, "TrentService.ListKeys", b"")
    assert status == 200
    assert headers["content-type"] == CT
    assert json.loads(body)["Truncated"] in (True, False)


def test_unknown_members_are_ignored(module_server: ServerProcess,
                                     raw: Callable[..., Any]) -> None:
    status, _h, body = raw(module_server, "TrentService.GenerateRandom",
                           {"NumberOfBytes": 2, "Bogus": [1, 2]})
    assert status == 200
    assert len(base64.b64decode(json.loads(body)["Plaintext"])) == 2


def test_operations_without_output_answer_an_empty_object(
        module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    key_id = module_server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    status, headers, body = raw(module_server, "TrentService.DisableKey", {"KeyId": key_id})
    assert (status, body) == (200, b"{}")
    assert headers["content-type"] == CT


def test_admin_errors(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    status, _h, body = raw(module_server, None, {"advance_seconds": -1}, path="/_hsmkms/clock")
    assert (status, json.loads(body)) == (400, {
        "__type": "ValidationException",
        "message": "advance_seconds must be a non-negative number"})
    status, _h, body = raw(module_server, None, b"{bad", path="/_hsmkms/clock")
    assert status == 400
    assert json.loads(body)["__type"] == "ValidationException"
    status, _h, body = raw(module_server, None, {}, path="/_hsmkms/nothing-here")
    assert (status, json.loads(body)["__type"]) == (404, "NotFound")


def test_hostile_bodies(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    key_id = module_server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    before = key_count(module_server)
    for target, body in (
            ("TrentService.CreateKey", b"[" * 100000),
            ("TrentService.CreateKey", b'{"Description": "\\ud800"}'),
            ("TrentService.Encrypt", b'{"KeyId": "' + key_id.encode()
             + b'", "Plaintext": "aGk=", "EncryptionContext": {"\\udfff": "x"}}')):
        status, _h, resp = raw(module_server, target, body)
        assert status == 400, resp
        assert json.loads(resp)["__type"] == "SerializationException"
    assert key_count(module_server) == before
    assert module_server.admin("GET", "health")["status"] == "ok"
