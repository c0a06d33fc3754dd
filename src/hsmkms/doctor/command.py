"""``hsmkms doctor``: its options, and one run (fetch, check, print).

boto3 is imported only when the doctor runs, so ``hsmkms --help`` stays light.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from hsmkms.console import reader_went_away
from hsmkms.doctor.hsmcli import CloudHsmCli, Login, default_executable

DESCRIPTION = (
    "Walk the AWS guide 'Troubleshooting a custom key store' for a CloudHSM key store (or the "
    "key store of a KMS key, or every CloudHSM key store of the account and Region): say what "
    "is wrong and print the guide's fix with the ids filled in. Uses the standard AWS "
    "credentials, Region and endpoint (AWS_ENDPOINT_URL), so it works against hsmkms and AWS. "
    "Exit status: 0 all is well, 1 something is wrong, 2 usage error.")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    doctor: argparse.ArgumentParser = sub.add_parser(
        "doctor", help="diagnose CloudHSM key stores and their keys, as the AWS "
        "troubleshooting guide does", description=DESCRIPTION)
    target = doctor.add_mutually_exclusive_group()
    target.add_argument("--custom-key-store-id", metavar="ID", help="the key store to check")
    target.add_argument("--key-id", metavar="KEY",
                        help="a KMS key (id, ARN or alias): its state, then its key store")
    doctor.add_argument("--endpoint-url", default=None,
                        help="the endpoint of every AWS service (default: AWS_ENDPOINT_URL or "
                        "AWS's own)")
    doctor.add_argument("--profile", default=None, help="the AWS profile to use")
    doctor.add_argument("--region", default=None, help="the AWS Region")
    doctor.add_argument("--json", action="store_true",
                        help="print a JSON document (schema: docs/doctor.md)")
    doctor.add_argument("--no-probe", action="store_true",
                        help="make no cryptographic request (by default one Encrypt with the "
                        "key, or one GenerateRandom in a connected key store)")
    doctor.add_argument("--hsm-checks", action="store_true",
                        help="also look into the cluster with cloudhsm-cli: kmsuser, and with "
                        "a login (CLOUDHSM_ROLE and CLOUDHSM_PIN=<user>:<password>, or asked "
                        "for on a terminal) the backing keys")
    doctor.add_argument("--cloudhsm-cli", default=None, metavar="PATH",
                        help="the cloudhsm-cli to run (default: the one on PATH)")
    return doctor


def ask_login(env: Mapping[str, str], stdin: TextIO,
              prompt: Callable[[str], str] = input,
              secret: Callable[[str], str] = getpass.getpass) -> Login | None:
    """The CloudHSM login for ``--hsm-checks``: from the environment, else asked for when
    stdin is a terminal (an empty password: no login, only ``user list``)."""
    role, pin = env.get("CLOUDHSM_ROLE"), env.get("CLOUDHSM_PIN")
    if role and pin and ":" in pin:
        username, _, password = pin.partition(":")
        return Login(role, username, password)
    if not stdin.isatty():
        return None
    role = prompt("CloudHSM role for the HSM checks (admin, crypto-user) [admin]: ") or "admin"
    default = "admin" if role == "admin" else "kmsuser"
    username = prompt(f"Username [{default}]: ") or default
    password = secret("Password (empty: no login): ")
    return Login(role, username, password) if password else None


def _hsm_cli(args: argparse.Namespace, region: str) -> CloudHsmCli | None:
    if not args.hsm_checks:
        return None
    env = {"AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    if args.endpoint_url:
        env["AWS_ENDPOINT_URL"] = args.endpoint_url
    exe = [args.cloudhsm_cli] if args.cloudhsm_cli else default_executable()
    return CloudHsmCli(tuple(exe), env, ask_login(os.environ, sys.stdin))


def main(args: argparse.Namespace) -> int:
    """One run; ``hsmkms doctor | head -1`` ends quietly (see :func:`reader_went_away`)."""
    try:
        code = run(args)
        sys.stdout.flush()  # here, not at exit, where a closed pipe can't be caught
    except BrokenPipeError:
        return reader_went_away()
    return code


def run(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415 - only the doctor needs it
    from botocore.exceptions import (  # noqa: PLC0415
        BotoCoreError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    from hsmkms.doctor import checks, report  # noqa: PLC0415
    from hsmkms.doctor.fetch import Aws, Fetcher, Request  # noqa: PLC0415

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        aws = Aws(session, args.endpoint_url)
        request = Request(args.custom_key_store_id, args.key_id, not args.no_probe,
                          _hsm_cli(args, aws.region))
        facts = Fetcher(aws, request).gather()
    except (ProfileNotFound, NoRegionError, NoCredentialsError) as err:
        sys.stderr.write(f"hsmkms doctor: {err}\n")
        return 2
    except BotoCoreError as err:
        sys.stderr.write(f"hsmkms doctor: {err}\n")
        return 1
    findings = checks.run(facts)
    if args.json:
        target = {"custom_key_store_id": args.custom_key_store_id, "key_id": args.key_id}
        sys.stdout.write(report.as_json(facts, findings, target))
    else:
        sys.stdout.write(report.as_text(facts, findings, unicode=_can_print("✓✗")))
    return report.exit_status(findings)


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
