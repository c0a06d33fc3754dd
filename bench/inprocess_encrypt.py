"""In-process AWS_KMS Encrypt cost: ``python bench/inprocess_encrypt.py [--calls 2000]
[--rounds 5] [--rev HEAD]``.

Builds an :class:`~hsmkms.app.App` on a temporary data dir, creates one AWS_KMS key through
``App.handle``, then times ``--rounds`` rounds of ``--calls`` Encrypt requests through
``App.handle`` (no HTTP, no botocore) and prints the wall-clock µs per call of each round and
their median. ``--rev`` measures a committed revision's ``src/`` (see bench/revision.py).
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

from revision import reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.http import HttpRequest

PLAINTEXT_BYTES = 64


def kms_request(operation: str, body: dict[str, object]) -> HttpRequest:
    """A KMS JSON request as an SDK sends it (the headers bench/run.py sends)."""
    now = time.gmtime()
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": f"TrentService.{operation}",
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", now),
        "user-agent": "hsmkms-bench python",
        "authorization": ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                          f"{time.strftime('%Y%m%d', now)}/us-east-1/kms/aws4_request, "
                          "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                          "Signature=" + "5d" * 32),
    }
    return HttpRequest("POST", "/", headers, json.dumps(body).encode())


def measure(calls: int, rounds: int) -> list[float]:
    """µs per ``App.handle`` Encrypt call, one number per round."""
    with tempfile.TemporaryDirectory(prefix="hsmkms-bench-") as tmp:
        app = App(Config.from_env({"data_dir": tmp}))
        try:
            created = app.handle(kms_request("CreateKey", {}))
            assert created.status == 200, created.body
            key_id = json.loads(created.body)["KeyMetadata"]["KeyId"]
            plaintext = base64.b64encode(os.urandom(PLAINTEXT_BYTES)).decode()
            req = kms_request("Encrypt", {"KeyId": key_id, "Plaintext": plaintext})
            response = app.handle(req)
            assert response.status == 200, response.body
            for _ in range(calls // 4):  # warm up (caches, the trail's buffer)
                app.handle(req)
            results = []
            for _ in range(rounds):
                app.trail.flush()  # each round starts with an empty trail buffer
                start = time.perf_counter()
                for _ in range(calls):
                    app.handle(req)
                results.append((time.perf_counter() - start) / calls * 1e6)
            return results
        finally:
            app.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rev", help="measure this git revision's src/ (e.g. HEAD)")
    args = parser.parse_args()
    results = measure(args.calls, args.rounds)
    label = os.environ.get("HSMKMS_BENCH_REV", "work tree")
    print(f"{label}: rounds {', '.join(f'{r:.1f}' for r in results)} µs/call")
    print(f"App.handle Encrypt (AWS_KMS): {statistics.median(results):.1f} µs/call "
          f"(median of {args.rounds} x {args.calls})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
