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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {k: getattr(args, k) for k in SETTINGS}
        try:
            config = Config.from_env(overrides)
        except ValueError as exc:
            print(f"hsmkms: {exc}", file=sys.stderr)
            return 2
        logging.basicConfig(level=config.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from hsmkms.server import serve  # noqa: PLC0415 - keeps `hsmkms --help` light

        serve(config, demo=args.demo)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
