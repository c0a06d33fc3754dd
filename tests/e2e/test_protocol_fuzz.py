"""No input crashes the server: random JSON bodies (right member names, any JSON values) for
every KMS operation get a 2xx or a 4xx AWS-shaped error, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.model
import pytest
from conftest import DUMMY_AUTHORIZATION
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsmkms.http import HttpRequest
from hsmkms.protocol.model import service_model
from hsmkms.testing.inprocess import InProcess

MODEL = service_model("kms")  # the pinned model the server speaks
OPERATIONS = sorted(MODEL.operation_names)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                      st.floats(allow_nan=False), st.text(max_size=30),
                      st.sampled_from(["alias/fuzz", "SYMMETRIC_DEFAULT", "AES_256", "aGk=",
                                       "1234abcd-12ab-34cd-56ef-1234567890ab", "", "\u0000"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def members(op: str) -> list[str]:
    shape = MODEL.operation_model(op).input_shape
    return list(shape.members) if shape is not None else []


@st.composite
def request(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    op = draw(st.sampled_from(OPERATIONS))
    names = members(op)
    body: dict[str, Any] = {}
    if names:
        for name in draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)):
            body[name] = draw(json_value)
    return op, body


@pytest.fixture(scope="module")
def inproc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with InProcess(Path(tmp_path_factory.mktemp("fuzz")) / "data") as app:
        yield app


def call(inproc: InProcess, op: str, body: bytes) -> tuple[int, dict[str, Any]]:
    resp = inproc.app.handle(HttpRequest("POST", "/", {
        "x-amz-target": f"TrentService.{op}", "authorization": DUMMY_AUTHORIZATION,
        "content-type": "application/x-amz-json-1.1"}, body))
    return resp.status, json.loads(resp.body) if resp.body else {}


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=request())
def test_random_bodies_never_crash(inproc: InProcess, req: tuple[str, dict[str, Any]]) -> None:
    op, body = req
    status, doc = call(inproc, op, json.dumps(body).encode())
    assert status < 500, (op, body, doc)
    if status >= 400:
        assert isinstance(doc.get("__type"), str)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(op=st.sampled_from(OPERATIONS), body=st.binary(max_size=64))
def test_random_bytes_never_crash(inproc: InProcess, op: str, body: bytes) -> None:
    status, _doc = call(inproc, op, body)
    assert status < 500


KEY_IDS = st.sampled_from(["alias/fuzz", "arn:aws:kms:us-east-1:111122223333:alias/fuzz",
                           "1234abcd-12ab-34cd-56ef-1234567890ab",
                           "arn:aws:kms:eu-west-1:111122223333:key/x", "default"])


#: Long strings, of 1- to 4-byte UTF-8 characters: sizes that overflow length prefixes.
BIG_TEXT = st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "\u00e9", "\u20ac", "\U0001f600"]),
                     st.sampled_from([255, 256, 4096, 16384, 65535, 65536, 70000]))


def typed(shape: botocore.model.Shape, depth: int = 0, *,
          text: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """Values of the right JSON type for ``shape`` (constraints not necessarily met)."""
    kind = shape.type_name
    if isinstance(shape, botocore.model.StructureShape):
        if depth > 3:
            return st.just({})
        return st.fixed_dictionaries({}, optional={
            name: typed(member, depth + 1, text=text) for name, member in shape.members.items()})
    if isinstance(shape, botocore.model.ListShape):
        return st.lists(typed(shape.member, depth + 1, text=text), max_size=3)
    if isinstance(shape, botocore.model.MapShape):
        keys = st.text(max_size=8) if text is None else st.one_of(st.text(max_size=8), text)
        return st.dictionaries(keys, typed(shape.value, depth + 1, text=text), max_size=2)
    if kind == "string":
        enum = shape.metadata.get("enum")
        options = [st.text(max_size=40) if text is None else text, KEY_IDS]
        if enum:
            options.append(st.sampled_from(enum))
        return st.one_of(*options)
    if kind == "blob":
        return st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode())
    if kind in ("integer", "long"):
        return st.integers(min_value=-5, max_value=5000)
    if kind == "boolean":
        return st.booleans()
    if kind in ("timestamp", "double", "float"):
        return st.floats(min_value=0, max_value=4e9)
    return st.none()


@st.composite
def typed_request(draw: st.DrawFn, text: st.SearchStrategy[str] | None = None,
                  ) -> tuple[str, dict[str, Any]]:
    op = draw(st.sampled_from(OPERATIONS))
    shape = MODEL.operation_model(op).input_shape
    return op, draw(typed(shape, text=text)) if shape is not None else {}


def with_fuzz_key(inproc: InProcess) -> None:
    """Once per module: a key with the alias ``alias/fuzz`` (one of the KeyIds drawn)."""
    if not hasattr(inproc, "fuzz_key"):
        kms = inproc.client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/fuzz", TargetKeyId=key)
        inproc.fuzz_key = key  # type: ignore[attr-defined]


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=typed_request())
def test_well_typed_bodies_never_crash(inproc: InProcess,
                                       req: tuple[str, dict[str, Any]]) -> None:
    """Bodies that pass decoding reach validation and the handlers; none may crash."""
    with_fuzz_key(inproc)
    op, body = req
    status, doc = call(inproc, op, json.dumps(body).encode())
    assert status < 500, (op, body, doc)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=typed_request(text=BIG_TEXT))
def test_large_values_never_crash(inproc: InProcess, req: tuple[str, dict[str, Any]]) -> None:
    """Well-typed bodies whose strings are long (a 65,536-byte encryption context value once
    overflowed a 2-byte length and answered 500): a 4xx, a 413 or a 2xx, never a 5xx."""
    with_fuzz_key(inproc)
    op, body = req
    status, doc = call(inproc, op, json.dumps(body).encode())
    assert status < 500, (op, {k: str(v)[:80] for k, v in body.items()}, doc)


CONTEXT_OPERATIONS = ["Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                      "Decrypt", "ReEncrypt", "CreateGrant"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(op=st.sampled_from(CONTEXT_OPERATIONS),
       context=st.dictionaries(st.one_of(st.text(max_size=8), BIG_TEXT),
                               st.one_of(st.text(max_size=8), BIG_TEXT), min_size=1, max_size=2))
def test_large_encryption_contexts_never_crash(inproc: InProcess, op: str,
                                               context: dict[str, str]) -> None:
    """The calls that get as far as the cryptography, with long context keys and values."""
    kms = inproc.client("kms")
    if not hasattr(inproc, "context_blob"):
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        inproc.context_key = key  # type: ignore[attr-defined]
        inproc.context_blob = base64.b64encode(  # type: ignore[attr-defined]
            kms.encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]).decode()
    key, blob = inproc.context_key, inproc.context_blob  # type: ignore[attr-defined]
    body = {"Encrypt": {"KeyId": key, "Plaintext": "cA==", "EncryptionContext": context},
            "GenerateDataKey": {"KeyId": key, "KeySpec": "AES_256",
                                "EncryptionContext": context},
            "GenerateDataKeyWithoutPlaintext": {"KeyId": key, "NumberOfBytes": 16,
                                                "EncryptionContext": context},
            "Decrypt": {"CiphertextBlob": blob, "EncryptionContext": context},
            "ReEncrypt": {"CiphertextBlob": blob, "DestinationKeyId": key,
                          "SourceEncryptionContext": {}, "DestinationEncryptionContext": context},
            "CreateGrant": {"KeyId": key, "GranteePrincipal": "arn:aws:iam::111122223333:root",
                            "Operations": ["Decrypt"],
                            "Constraints": {"EncryptionContextEquals": context}}}[op]
    status, doc = call(inproc, op, json.dumps(body).encode())
    assert status < 500, (op, {k: len(v) for k, v in context.items()}, doc)
