"""The bare endpoint the benchmark compares hsmkms against.

The same server stack as ``hsmkms serve`` (uvicorn, uvloop, httptools, one worker, no access
log): an ASGI app that reads the whole body, parses it as JSON and answers a fixed JSON body.
Whatever hsmkms spends beyond this is the cost of hsmkms itself (routing, SigV4 scope,
validation, the unit of work, the KMS domain, AES-GCM, serialisation).

Run: ``python bench/bare.py PORT``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

BODY = json.dumps({
    "CiphertextBlob": "AQ" * 40,
    "KeyId": "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000",
    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}).encode()
HEADERS = [(b"content-type", b"application/x-amz-json-1.1"),
           (b"x-amzn-requestid", b"00000000-0000-0000-0000-000000000000"),
           (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    json.loads(b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                lifespan="off", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
