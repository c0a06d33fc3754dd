"""CPU per Encrypt request in each auth mode, side by side: ``python bench/auth_modes.py
[--calls 2000] [--rounds 5] [--rev HEAD]``.

Builds one :class:`~hsmkms.app.App` per mode (``off``, ``verify``, ``enforce``) on temporary
data dirs. Each creates one AWS_KMS key whose key policy is realistic: five statements (key
administrators, key users with conditions on the encryption context, a deny without one, and
two more conditional statements), and one grant (to a role, for Encrypt with an encryption
context constraint). The Encrypt request is signed once by botocore with the
mode's root key (``off`` accepts it unchecked), then ``--rounds`` interleaved rounds of
``--calls`` ``App.handle`` calls per mode are timed with the process CPU clock (no HTTP). Prints
µs of CPU per call, the median of the rounds, and each mode's ratio to ``off`` measured in the
same run. The row ``grant`` is ``enforce`` with the Encrypt made by another account's root user,
whom only a grant allows (the key policy without its same-account deny). (The signature stays
within the 5-minute window: keep a run short.)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revision import reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.http import HttpRequest

MODES = ("off", "verify", "enforce", "grant")
ACCOUNT, OTHER = "111122223333", "444455556666"
OTHER_KEY = ("AKIABENCHOTHERROOT01", "benchOtherRootSecretAccessKey00000000000")
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CONTEXT = {"Dept": "IT", "App": "bench"}
KEY_POLICY = {"Version": "2012-10-17", "Id": "bench", "Statement": [
    {"Sid": "Key administrators", "Effect": "Allow", "Principal": {"AWS": ROOT},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion"], "Resource": "*"},
    {"Sid": "Key users", "Effect": "Allow", "Principal": {"AWS": ROOT},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
     "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:Dept": ["IT", "Ops"]},
                   "StringLike": {"kms:EncryptionContext:App": "b*"}}},
    {"Sid": "No use without a context", "Effect": "Deny", "Principal": "*",
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}}},
    {"Sid": "Only known context keys", "Effect": "Deny", "Principal": "*",
     "Action": "kms:Encrypt", "Resource": "*",
     "Condition": {"ForAnyValue:StringNotEquals": {
         "kms:EncryptionContextKeys": ["Dept", "App", "Project"]}}},
    {"Sid": "Same account only", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
     "Resource": "*", "Condition": {"StringNotEquals": {"kms:CallerAccount": ACCOUNT}}},
]}


def signed(app: App, operation: str, body: dict[str, Any],
           key: tuple[str, str] | None = None) -> HttpRequest:
    """``body`` as boto3 sends it, signed by botocore with ``key`` (default: the app's root
    key)."""
    auth = app.auth
    akid, secret = key or ((auth.root.access_key_id, auth.root.secret_text) if auth is not None
                           else ("AKIAIOSFODNN7EXAMPLE",
                                 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    raw = json.dumps(body).encode()
    req = AWSRequest("POST", "http://127.0.0.1:4599/", data=raw, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"TrentService.{operation}", "User-Agent": "hsmkms-bench"})
    SigV4Auth(Credentials(akid, secret), "kms", "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "127.0.0.1:4599"
    return HttpRequest("POST", "/", headers, raw)


def _call(app: App, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    done = app.handle(signed(app, operation, body))
    assert done.status == 200, done.body
    return dict(json.loads(done.body))


def prepare(mode: str, tmp: str) -> tuple[App, HttpRequest]:
    via_grant = mode == "grant"
    app = App(Config.from_env({"data_dir": str(Path(tmp) / mode),
                               "auth": "enforce" if via_grant else mode,
                               "root_keys": f"{OTHER}:{OTHER_KEY[0]}:{OTHER_KEY[1]}"}))
    policy = dict(KEY_POLICY, Statement=KEY_POLICY["Statement"][:-1]) if via_grant \
        else KEY_POLICY
    meta = _call(app, "CreateKey", {"Policy": json.dumps(policy)})["KeyMetadata"]
    grantee = f"arn:aws:iam::{OTHER}:root" if via_grant else f"arn:aws:iam::{ACCOUNT}:role/app"
    _call(app, "CreateGrant", {"KeyId": meta["KeyId"], "GranteePrincipal": grantee,
                               "Operations": ["Encrypt", "Decrypt"],
                               "Constraints": {"EncryptionContextSubset": {"Dept": "IT"}}})
    plaintext = base64.b64encode(os.urandom(64)).decode()
    # Another account names the key by its ARN; the owner by its id (as before grants).
    key_id = meta["Arn"] if via_grant else meta["KeyId"]
    req = signed(app, "Encrypt", {"KeyId": key_id, "Plaintext": plaintext,
                                  "EncryptionContext": CONTEXT},
                 OTHER_KEY if via_grant else None)
    response = app.handle(req)
    assert response.status == 200, response.body
    if mode in ("enforce", "grant"):  # the policy is evaluated: a request it refuses is refused
        other = signed(app, "Encrypt", {"KeyId": key_id, "Plaintext": plaintext,
                                        "EncryptionContext": {"Dept": "HR", "App": "bench"}},
                       OTHER_KEY if via_grant else None)
        assert app.handle(other).status == 400
    return app, req


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rev", default=None, help="measure a committed revision's src/")
    args = parser.parse_args()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="hsmkms-bench-auth-") as tmp:
        apps = {mode: prepare(mode, tmp) for mode in MODES}
        try:
            for _ in range(args.rounds):
                for mode in MODES:  # interleaved: drift affects every mode alike
                    app, req = apps[mode]
                    start = time.process_time()
                    for _ in range(args.calls):
                        app.handle(req)
                    results[mode].append((time.process_time() - start) / args.calls * 1e6)
                    app.tick()  # let the trail flush between rounds
        finally:
            for app, _req in apps.values():
                app.close()
    base = statistics.median(results["off"])
    for mode in MODES:
        median = statistics.median(results[mode])
        rounds = " ".join(f"{v:.0f}" for v in results[mode])
        sys.stdout.write(f"{mode:8} {median:7.1f} µs CPU/call (rounds: {rounds})  "
                         f"x{median / base:.3f} of off\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
