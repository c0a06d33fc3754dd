"""The real AWS SDK for JavaScript v3 (pinned in tests/js/package-lock.json) against a real
server with elliptic-curve keys (tests/js/sign.mjs): Sign and Verify (RAW, and DIGEST of the
same message) with an ECC_NIST_P256 key, KMSInvalidSignatureException for another message, the
signature verified by Node's own crypto with GetPublicKey's DER key, and DeriveSharedSecret
equal to the secret Node computes from its side. Needs node and npm; without them it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from hsmkms.testing.server import TEST_CREDENTIALS, ServerProcess

PACKAGE = Path(__file__).resolve().parent.parent / "js"
FILES = ("package.json", "package-lock.json", "sign.mjs")
#: Bounds on a hung install or script, not expectations.
NPM_TIMEOUT = 600
NODE_TIMEOUT = 120


def test_ecc_sign_verify_and_ecdh_with_the_javascript_sdk(module_server: ServerProcess,
                                                          tmp_path: Path) -> None:
    for name in FILES:
        shutil.copy(PACKAGE / name, tmp_path / name)
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm is not None, "npm is needed to install the pinned AWS SDK for JavaScript"
    assert node is not None, "node is needed to run the AWS SDK for JavaScript"
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=tmp_path,  # noqa: S603
                          capture_output=True, text=True, check=False, timeout=NPM_TIMEOUT)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "HSMKMS_ENDPOINT": module_server.endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"]}
    done = subprocess.run([node, "sign.mjs"], cwd=tmp_path, env=env,  # noqa: S603
                          capture_output=True, text=True, check=False, timeout=NODE_TIMEOUT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    arn = out["signingArn"]
    assert out["sign"] == {"KeyId": arn, "SigningAlgorithm": "ECDSA_SHA_256"}
    assert out["verify"] == {"KeyId": arn, "SignatureValid": True,
                             "SigningAlgorithm": "ECDSA_SHA_256"}
    assert out["verifyDigest"] is True
    assert out["otherMessageError"] == "KMSInvalidSignatureException"
    assert (out["nodeVerifies"], out["nodeVerifiesOther"]) == (True, False)
    assert out["derive"] == {"KeyId": out["agreeingArn"], "KeyAgreementAlgorithm": "ECDH",
                             "KeyOrigin": "AWS_KMS"}
    assert (out["secretLength"], out["secretsEqual"]) == (32, True)
