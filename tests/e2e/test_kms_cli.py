"""The real AWS CLI v1 against a real server: the commands of the user's guide and the exact
error line on stderr."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hsmkms.testing.server import ServerProcess

Aws = Callable[..., subprocess.CompletedProcess[str]]
ACCOUNT = "111122223333"


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_cli_round_trip(module_server: ServerProcess, aws: Aws, tmp_path: Path) -> None:
    meta = ok(aws(module_server, "kms", "create-key", "--description", "from the cli",
                  "--tags", "TagKey=team,TagValue=blue"))["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert meta["KeyState"] == "Enabled"
    assert isinstance(meta["CreationDate"], float)  # CLI v1 prints epoch numbers
    described = ok(aws(module_server, "kms", "describe-key", "--key-id", key_id))["KeyMetadata"]
    assert described["Description"] == "from the cli"
    ok(aws(module_server, "kms", "create-alias", "--alias-name", "alias/cli",
           "--target-key-id", key_id))
    listed = ok(aws(module_server, "kms", "list-keys"))["Keys"]
    assert {"KeyId": key_id, "KeyArn": meta["Arn"]} in listed

    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"\x00\x01binary secret\xff")
    enc = ok(aws(module_server, "kms", "encrypt", "--key-id", "alias/cli",
                 "--plaintext", f"fileb://{plain}",
                 "--encryption-context", "purpose=cli"))
    assert enc["KeyId"] == meta["Arn"]
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = ok(aws(module_server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                 "--encryption-context", "purpose=cli"))
    assert base64.b64decode(dec["Plaintext"]) == b"\x00\x01binary secret\xff"
    assert dec["KeyId"] == meta["Arn"]
    # --query/--output text, as scripts use it.
    text = aws(module_server, "kms", "list-aliases", "--key-id", key_id, "--query",
               "Aliases[].AliasName", "--output", "text")
    assert text.stdout.strip() == "alias/cli"

    sched = ok(aws(module_server, "kms", "schedule-key-deletion", "--key-id", key_id,
                   "--pending-window-in-days", "7"))
    assert sched["KeyId"] == meta["Arn"]
    assert sched["KeyState"] == "PendingDeletion"
    assert sched["PendingWindowInDays"] == 7
    cancel = ok(aws(module_server, "kms", "cancel-key-deletion", "--key-id", key_id))
    assert cancel == {"KeyId": meta["Arn"]}


@pytest.mark.parametrize(("args", "line"), [
    (["describe-key", "--key-id", "nope"],
     "An error occurred (NotFoundException) when calling the DescribeKey operation: "
     "Invalid keyId 'nope'"),
    (["list-grants", "--key-id", "1234abcd-12ab-34cd-56ef-1234567890ab"],
     "An error occurred (NotFoundException) when calling the ListGrants operation: "
     "Key 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' "
     "does not exist"),
])
def test_cli_error_lines(module_server: ServerProcess, aws: Aws, args: list[str],
                         line: str) -> None:
    result = aws(module_server, "kms", *args)
    assert result.returncode == 255
    assert result.stdout == ""
    assert result.stderr.strip() == line


def test_cli_state_errors(module_server: ServerProcess, aws: Aws) -> None:
    meta = ok(aws(module_server, "kms", "create-key"))["KeyMetadata"]
    ok(aws(module_server, "kms", "disable-key", "--key-id", meta["KeyId"]))
    result = aws(module_server, "kms", "encrypt", "--key-id", meta["KeyId"], "--plaintext",
                 base64.b64encode(b"x").decode())
    assert result.stderr.strip() == (
        "An error occurred (DisabledException) when calling the Encrypt operation: "
        f"{meta['Arn']} is disabled.")


def test_cli_invalid_ciphertext_has_an_empty_message(module_server: ServerProcess, aws: Aws,
                                                     tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x02" + b"\x00" * 60)
    result = aws(module_server, "kms", "decrypt", "--ciphertext-blob", f"fileb://{bad}")
    assert result.returncode == 255
    assert result.stderr.strip() == (
        "An error occurred (InvalidCiphertextException) when calling the Decrypt operation:")
