"""CPU per cross-account Encrypt allowed by a grant, as the key's grant count grows:
``python bench/grants_scale.py [--grants 2000] [--calls 500] [--rounds 5] [--rev HEAD]``.

Builds one :class:`~hsmkms.app.App` in ``--auth enforce`` on a temporary data dir with two
accounts. Account 111122223333 creates one key (the default key policy: its own account only)
and one grant to 444455556666's root for Encrypt; the ``many`` row's key also has ``--grants``
further grants to roles of 444455556666 (other grantees, so they cannot allow the request).
The Encrypt is signed once by botocore with the other account's root key, then ``--rounds``
interleaved rounds of ``--calls`` ``App.handle`` calls per row are timed with the process CPU
clock (no HTTP). Prints µs of CPU per call (the median of the rounds) and the ratio of ``many``
to ``one``. (The signature stays within the 5-minute window: keep a run short.)
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from revision import reexec_for_revision

if __name__ == "__main__":
    reexec_for_revision(__file__)

from hsmkms.app import App
from hsmkms.config import Config

from auth_modes import OTHER, OTHER_KEY, _call, signed

if TYPE_CHECKING:
    from hsmkms.http import HttpRequest

ROWS = ("one", "many")


def prepare(tmp: str, name: str, extra: int) -> tuple[App, HttpRequest]:
    app = App(Config.from_env({"data_dir": str(Path(tmp) / name), "auth": "enforce",
                               "root_keys": f"{OTHER}:{OTHER_KEY[0]}:{OTHER_KEY[1]}"}))
    meta = _call(app, "CreateKey", {})["KeyMetadata"]
    for i in range(extra):
        _call(app, "CreateGrant", {"KeyId": meta["KeyId"], "Operations": ["Encrypt"],
                                   "GranteePrincipal": f"arn:aws:iam::{OTHER}:role/r{i}"})
    _call(app, "CreateGrant", {"KeyId": meta["KeyId"], "Operations": ["Encrypt"],
                               "GranteePrincipal": f"arn:aws:iam::{OTHER}:root"})
    plaintext = base64.b64encode(os.urandom(64)).decode()
    req = signed(app, "Encrypt", {"KeyId": meta["Arn"], "Plaintext": plaintext}, OTHER_KEY)
    response = app.handle(req)
    assert response.status == 200, response.body
    return app, req


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rev", default=None, help="measure a committed revision's src/")
    args = parser.parse_args()
    results: dict[str, list[float]] = {row: [] for row in ROWS}
    with tempfile.TemporaryDirectory(prefix="hsmkms-bench-grants-") as tmp:
        apps = {"one": prepare(tmp, "one", 0), "many": prepare(tmp, "many", args.grants)}
        try:
            for _ in range(args.rounds):
                for row in ROWS:  # interleaved: drift affects both rows alike
                    app, req = apps[row]
                    start = time.process_time()
                    for _ in range(args.calls):
                        app.handle(req)
                    results[row].append((time.process_time() - start) / args.calls * 1e6)
                    app.tick()  # let the trail flush between rounds
        finally:
            for app, _req in apps.values():
                app.close()
    base = statistics.median(results["one"])
    for row in ROWS:
        median = statistics.median(results[row])
        rounds = " ".join(f"{v:.0f}" for v in results[row])
        grants = 1 + (args.grants if row == "many" else 0)
        sys.stdout.write(f"{row:5} {grants:6} grants {median:9.1f} µs CPU/call "
                         f"(rounds: {rounds})  x{median / base:.2f} of one\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
