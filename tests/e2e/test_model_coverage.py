"""Every operation of the KMS model hsmkms ships (``hsmkms/protocol/models/kms.json``, pinned
from one botocore release, not the installed botocore's) is either implemented or listed, in
``docs/compatibility.md``, as not implemented yet and answers ``NotImplementedYetException``
(HTTP 400). The test parses the doc, so the list and the server cannot drift apart."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.model
import pytest

from hsmkms.protocol.model import load, service_model
from hsmkms.testing.server import ServerProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
SECTION = "## KMS operations not implemented yet"


def documented_missing() -> set[str]:
    text = DOC.read_text()
    assert SECTION in text, f"{DOC} lost its section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `(\w+)`", section, flags=re.MULTILINE))


def kms_model() -> botocore.model.ServiceModel:
    return service_model("kms")


class Minimal:
    """Builds the smallest request that passes the model's constraints, so the server gets past
    validation to the handler (or to its absence)."""

    def __init__(self, key_id: str) -> None:
        self.candidates = [key_id, "alias/coverage", "cks-1234567890abcdef0",
                           "cluster-234567abcdefg", "us-west-2", "default", "kmsuser", "a"]

    def structure(self, shape: botocore.model.StructureShape) -> dict[str, Any]:
        return {name: self.value(shape.members[name]) for name in shape.required_members}

    def value(self, shape: botocore.model.Shape) -> Any:  # noqa: PLR0911
        meta = shape.metadata
        kind = shape.type_name
        if isinstance(shape, botocore.model.StructureShape):
            return self.structure(shape)
        if kind == "string":
            if meta.get("enum"):
                return meta["enum"][0]
            return self.string(meta)
        if kind == "blob":
            return base64.b64encode(b"x" * int(meta.get("min", 1) or 1)).decode()
        if kind in ("integer", "long"):
            return int(meta.get("min", 1))
        if kind == "boolean":
            return False
        if kind == "timestamp":
            return time.time() + 3600
        if isinstance(shape, botocore.model.ListShape):
            return [self.value(shape.member) for _ in range(int(meta.get("min", 0)))]
        if isinstance(shape, botocore.model.MapShape):
            return {}
        raise AssertionError(f"no minimal value for {shape.name} ({kind})")

    def string(self, meta: dict[str, Any]) -> str:
        low, high = int(meta.get("min", 0)), int(meta.get("max", 1 << 20))
        pattern = meta.get("pattern")
        tries = [*self.candidates, "x" * max(low, 1)]
        for candidate in tries:
            if not low <= len(candidate) <= high:
                continue
            try:
                if pattern is None or re.fullmatch(pattern, candidate):
                    return candidate
            except re.error:
                return candidate
        raise AssertionError(f"no minimal string for {meta}")


@pytest.fixture(scope="module")
def answers(module_server: ServerProcess, raw: Callable[..., Any],
            ) -> dict[str, tuple[int, dict[str, Any]]]:
    """Operation -> (status, body) of its minimal request (each with a fresh key)."""
    model = kms_model()
    kms = module_server.client("kms")
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for name in model.operation_names:
        minimal = Minimal(kms.create_key()["KeyMetadata"]["KeyId"])
        op = model.operation_model(name)
        body = minimal.structure(op.input_shape) if op.input_shape is not None else {}
        status, _headers, resp = raw(module_server, f"TrentService.{name}", body)
        out[name] = (status, json.loads(resp) if resp else {})
    return out


def test_doc_lists_only_model_operations() -> None:
    listed = documented_missing()
    section = DOC.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    # An empty list must say so in words: otherwise the parsing broke.
    assert listed or "None: every operation of the KMS model has a handler" in section
    assert listed <= set(kms_model().operation_names), listed - set(kms_model().operation_names)


def test_listed_operations_answer_not_implemented(
        answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
    wrong = {name: answers[name] for name in sorted(documented_missing())
             if answers[name][0] != 400
             or answers[name][1].get("__type") != "NotImplementedYetException"}
    assert wrong == {}, "listed in docs/compatibility.md as not implemented, but they answer"


def test_unlisted_operations_are_implemented(
        answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
    missing = documented_missing()
    wrong = {name: answer for name, answer in sorted(answers.items())
             if name not in missing and answer[1].get("__type") == "NotImplementedYetException"}
    assert wrong == {}, "not implemented, yet not listed in docs/compatibility.md"


def test_no_operation_crashes(answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
    crashed = {name: a for name, a in answers.items() if a[0] >= 500}
    assert crashed == {}


def test_not_implemented_message(answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
    wrong = {name: answers[name][1] for name in sorted(documented_missing())
             if answers[name][1] != {
                 "__type": "NotImplementedYetException",
                 "message": f"hsmkms does not implement TrentService.{name} yet."}}
    assert wrong == {}


def test_unknown_operation_is_not_confused_with_unimplemented(
        module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    status, _h, body = raw(module_server, "TrentService.CreateGrants", {})
    assert (status, json.loads(body)["__type"]) == (400, "UnknownOperationException")


def test_the_shipped_model_is_the_pinned_one() -> None:
    """The server speaks the model of botocore 1.44.8 whatever botocore is installed."""
    spec = load("kms")
    assert spec.botocore_version == "1.44.8"
    assert len(kms_model().operation_names) == 56
    assert {"Encapsulate", "Decapsulate"} <= set(kms_model().operation_names)
    assert {"ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"} <= set(spec.shapes["KeySpec"]["enum"])


def test_ml_kem_keys_are_implemented(module_server: ServerProcess,
                                    raw: Callable[..., Any]) -> None:
    status, _h, body = raw(module_server, "TrentService.CreateKey",
                           {"KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE"})
    meta = json.loads(body)["KeyMetadata"]
    assert (status, meta["KeySpec"], meta["EncapsulationAlgorithms"]) == (
        200, "ML_KEM_768", ["ML_KEM"])
