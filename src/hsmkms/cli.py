"""The ``hsmkms`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hsmkms.config import SETTINGS, Config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsmkms", description="AWS KMS with CloudHSM key "
                                     "stores, self-hosted. Every flag can also be set with the "
                                     "environment variable shown.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server in the foreground")
    for name, (var, default, text) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        serve.add_argument(flag, dest=name, default=None,
                           help=f"{text} (env {var}, default {default!r})")
    serve.add_argument("--demo", action="store_true",
                       help="build a ready demo environment and print how to use it")
    fault = sub.add_parser("fault", help="inject faults AWS has no API for (see docs)")
    fault.add_argument("--endpoint-url", default=None,
                       help="the server (default $AWS_ENDPOINT_URL or http://127.0.0.1:4599)")
    actions = fault.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a fault; prints its fault_id")
    add.add_argument("fault", choices=["network-errors", "pkcs11-sessions-exhausted",
                                       "internal-error", "hsm-unreachable"])
    add.add_argument("--cluster-id", required=True)
    add.add_argument("--hsm-id", default=None,
                     help="the HSM that stops answering (hsm-unreachable only)")
    actions.add_parser("list", help="list the active faults")
    clear = actions.add_parser("clear", help="remove one fault, or all of them")
    clear.add_argument("fault_id", nargs="?", help="the fault to remove (default: all)")
    return parser


def _fault(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    base = (args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
            or "http://127.0.0.1:4599").rstrip("/") + "/_hsmkms/faults"

    def call(method: str, url: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise SystemExit(f"hsmkms fault: {err.code} {err.read().decode()}") from None
        except OSError as err:
            raise SystemExit(f"hsmkms fault: cannot reach {base}: {err}") from None

    if args.action == "add":
        body = {"fault": args.fault, "cluster_id": args.cluster_id}
        if args.hsm_id is not None:
            body["hsm_id"] = args.hsm_id
        doc = call("POST", base, body)
    elif args.action == "list":
        doc = call("GET", base)
    elif args.fault_id:
        doc = call("DELETE", f"{base}/{args.fault_id}")
    else:
        listed = call("GET", base)
        ids = [f["fault_id"] for f in listed["faults"]]  # type: ignore[index]
        for fault_id in ids:
            call("DELETE", f"{base}/{fault_id}")
        doc = {"removed": ids}
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {k: getattr(args, k) for k in SETTINGS}
        try:
            config = Config.from_env(overrides)
        except ValueError as exc:
            sys.stderr.write(f"hsmkms: {exc}\n")
            return 2
        logging.basicConfig(level=config.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from hsmkms.server import serve  # noqa: PLC0415 - keeps `hsmkms --help` light
        from hsmkms.store.base import SecretsUnreadable  # noqa: PLC0415

        try:
            serve(config, demo=args.demo)
        except SecretsUnreadable as exc:
            sys.stderr.write(f"hsmkms: cannot open {config.data_dir}: {exc}\n")
            return 1
        return 0
    if args.command == "fault":
        return _fault(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
