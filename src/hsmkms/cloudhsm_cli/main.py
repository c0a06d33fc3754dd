"""``cloudhsm-cli``: AWS CloudHSM CLI (Client SDK 5) against an hsmkms server.

Two modes, as AWS's (cloudhsm_cli-modes):

* ``cloudhsm-cli interactive``: prompt ``aws-cloudhsm > ``; ``help``, ``help <command>``,
  ``quit``; a ``login`` lasts until ``logout``, ``quit``, the end of input/the process, or the
  server's idle timeout (``HSMKMS_CLI_IDLE_TIMEOUT``, default 1800 s). When the server no longer
  honours the session (it idled out), the client forgets it, so ``login`` works again.
* ``cloudhsm-cli <command> [args]``: one command; when it needs a login and ``CLOUDHSM_ROLE``
  and ``CLOUDHSM_PIN`` (``user:password``) are set, it logs in first and out after
  (``logout`` included: it logs in from the environment, then out).

The cluster comes from ``--cluster-id`` or ``CLOUDHSM_CLUSTER_ID``, the server from
``--endpoint-url`` or ``AWS_ENDPOINT_URL``, the region from ``AWS_REGION`` or
``AWS_DEFAULT_REGION``. Output is AWS's JSON envelope (``{"error_code": 0, "data": ...}``);
the exit status is 0 on success and 1 on error. A thin HTTP client: stdlib only, so it starts
fast; everything happens on the server (``/_hsmkms/cloudhsm-cli/<command>``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

PROMPT = "aws-cloudhsm > "
#: Commands that need a logged-in user (everything else works without one).
NEEDS_LOGIN = {"logout", "user-create", "user-delete", "user-change-password", "key-list",
               "key-delete", "key-share", "key-unshare", "key-set-attribute",
               "key-generate-symmetric-aes"}
#: Commands whose password prompt asks twice (AWS: creation, change, activation).
CONFIRMED = {"user-create", "user-change-password", "cluster-activate"}


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; interactive mode must not
        raise UsageError(f"{self.prog}: error: {message}\n{self.format_usage()}")


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--cluster-id", help="cluster to run the command on "
                   "(default: CLOUDHSM_CLUSTER_ID)")
    p.add_argument("--endpoint-url", help="hsmkms endpoint (default: AWS_ENDPOINT_URL)")
    return p


def _user_args(p: argparse.ArgumentParser, password: bool) -> None:
    p.add_argument("--username", required=True, help="user name (case-insensitive)")
    p.add_argument("--role", required=True, choices=["admin", "crypto-user"])
    if password:
        p.add_argument("--password", help="password (prompted for when omitted)")


def _filter(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--filter", nargs="+", required=required, metavar="FILTER",
                   help="key-reference=<0x...> or attr.<name>=<value> (all must match)")


def build_parser() -> Parser:
    root = Parser(prog="cloudhsm-cli", description="AWS CloudHSM CLI for hsmkms")
    cmds = root.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)
    cmds.add_parser("interactive", help="start an interactive session")
    _common(p := cmds.add_parser("login", help="log in to the HSMs of the cluster"))
    _user_args(p, password=True)
    p.set_defaults(op="login")
    _common(cmds.add_parser("logout", help="log out of the cluster")).set_defaults(op="logout")

    user = cmds.add_parser("user", help="manage HSM users").add_subparsers(
        dest="sub", metavar="<subcommand>", parser_class=Parser, required=True)
    _common(user.add_parser("list", help="list the users")).set_defaults(op="user-list")
    for name, text, pwd in (("create", "create a user (admin)", True),
                            ("delete", "delete a user (admin)", False),
                            ("change-password", "change a password", True)):
        _common(p := user.add_parser(name, help=text))
        _user_args(p, password=pwd)
        p.set_defaults(op=f"user-{name}")

    key = cmds.add_parser("key", help="manage keys").add_subparsers(
        dest="sub", metavar="<subcommand>", parser_class=Parser, required=True)
    _common(p := key.add_parser("list", help="list keys"))
    _filter(p, required=False)
    p.add_argument("--max-items", type=int, default=10)
    p.add_argument("--starting-token")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(op="key-list")
    _common(p := key.add_parser("delete", help="delete one key (owner)"))
    _filter(p, required=True)
    p.set_defaults(op="key-delete")
    for name in ("share", "unshare"):
        _common(p := key.add_parser(name, help=f"{name} one key with a crypto user (owner)"))
        _filter(p, required=True)
        _user_args(p, password=False)
        p.set_defaults(op=f"key-{name}")
    _common(p := key.add_parser("set-attribute", help="set an attribute of one key"))
    _filter(p, required=True)
    p.add_argument("--name", required=True, help="attribute name, e.g. label, encrypt")
    p.add_argument("--value", required=True)
    p.set_defaults(op="key-set-attribute")
    gen = key.add_parser("generate-symmetric", help="generate a symmetric key").add_subparsers(
        dest="algo", metavar="<algorithm>", parser_class=Parser, required=True)
    _common(p := gen.add_parser("aes", help="generate an AES key"))
    p.add_argument("--label", required=True)
    p.add_argument("--key-length-bytes", type=int, required=True, choices=[16, 24, 32])
    p.add_argument("--session", action="store_true", help="session key (not supported)")
    p.add_argument("--attributes", nargs="+", default=[], metavar="NAME=VALUE")
    p.add_argument("--share-crypto-users", nargs="+", default=[], metavar="USER")
    p.add_argument("--manage-key-quorum-value", type=int, default=0)
    p.add_argument("--use-key-quorum-value", type=int, default=0)
    p.set_defaults(op="key-generate-symmetric-aes")

    cluster = cmds.add_parser("cluster", help="cluster commands").add_subparsers(
        dest="sub", metavar="<subcommand>", parser_class=Parser, required=True)
    _common(p := cluster.add_parser("activate", help="activate the cluster (sets the admin "
                                    "password)"))
    p.add_argument("--password", help="admin password (prompted for when omitted)")
    p.set_defaults(op="cluster-activate")
    _common(cluster.add_parser("hsm-info", help="describe the HSMs")).set_defaults(
        op="cluster-hsm-info")
    return root


def emit(doc: dict[str, Any]) -> int:
    print(json.dumps(doc, indent=2), flush=True)  # noqa: T201 - the CLI's output
    return 0 if doc.get("error_code") == 0 else 1


def failure(message: str) -> dict[str, Any]:
    return {"error_code": 1, "data": message}


class Client:
    """Talks to the server; holds the login token of this process (one session).

    Whether a user is logged in is the server's to say: the client sends its token, and the
    server answers a new ``token`` when it changes (``login``; ``""`` after ``logout`` or when
    the session it names has ended)."""

    def __init__(self, env: dict[str, str], stdin: Any = None) -> None:
        self.env = env
        self.stdin = stdin or sys.stdin
        self.token = ""

    def read_password(self, prompt: str) -> str:
        if self.stdin.isatty():
            return getpass.getpass(prompt)
        sys.stderr.write(prompt)
        sys.stderr.flush()
        return self.stdin.readline().rstrip("\r\n")

    def call(self, op: str, args: dict[str, Any], ns: argparse.Namespace | None = None,
             ) -> dict[str, Any]:
        endpoint = getattr(ns, "endpoint_url", None) or self.env.get("AWS_ENDPOINT_URL", "")
        if not endpoint:
            return failure("No hsmkms endpoint: set AWS_ENDPOINT_URL or pass --endpoint-url.")
        body = {"region": self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION")
                or "us-east-1",
                "access_key_id": self.env.get("AWS_ACCESS_KEY_ID", ""),
                "cluster_id": getattr(ns, "cluster_id", None)
                or self.env.get("CLOUDHSM_CLUSTER_ID", ""),
                "token": self.token, "args": args}
        req = urllib.request.Request(  # noqa: S310 - the user's own endpoint
            endpoint.rstrip("/") + "/_hsmkms/cloudhsm-cli/" + op,
            data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            try:
                doc = json.loads(err.read())
            except ValueError:
                return failure(f"The server answered HTTP {err.code}.")
        except (OSError, ValueError) as err:
            return failure(f"Unable to connect to {endpoint}: {err}")
        if not isinstance(doc, dict) or "error_code" not in doc:
            return failure("The server sent an unexpected answer.")
        if "token" in doc:
            self.token = str(doc.pop("token") or "")
        return doc

    def password(self, op: str, given: str | None) -> str | None:
        if given is not None:
            return given
        first = self.read_password("Enter password:")
        if op in CONFIRMED and self.read_password("Confirm password:") != first:
            return None
        return first

    def run(self, ns: argparse.Namespace) -> dict[str, Any]:
        op: str = ns.op
        args = {k: v for k, v in vars(ns).items()
                if k not in ("op", "command", "sub", "algo", "cluster_id", "endpoint_url")
                and (v is not None or k == "password")}
        if "password" in args:
            args["password"] = self.password(op, args["password"])
            if args["password"] is None:
                return failure("Passwords do not match.")
        return self.call(op, args, ns)

    def login_from_env(self, ns: argparse.Namespace) -> dict[str, Any] | None:
        role, pin = self.env.get("CLOUDHSM_ROLE"), self.env.get("CLOUDHSM_PIN")
        if not role or not pin:
            return None
        username, sep, password = pin.partition(":")
        if not sep:
            return failure("CLOUDHSM_PIN must be <username>:<password>.")
        return self.call("login", {"username": username, "role": role, "password": password},
                         ns)

    def close(self) -> None:
        if self.token:
            self.call("logout", {})


def single(argv: list[str], env: dict[str, str]) -> int:
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except UsageError as err:
        sys.stderr.write(str(err))
        return 2
    if not getattr(ns, "op", None):
        parser.print_help()
        return 2
    client = Client(env)
    try:
        if ns.op in NEEDS_LOGIN:  # logout too: it logs in from the environment, then out
            done = client.login_from_env(ns)
            if done is not None and done.get("error_code") != 0:
                return emit(done)
        return emit(client.run(ns))
    finally:
        client.close()


def interactive_help(parser: Parser, words: list[str]) -> str:
    target: argparse.ArgumentParser = parser
    for word in words:
        actions = [a for a in target._actions  # noqa: SLF001 - argparse has no public walk
                   if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        if not actions or word not in actions[0].choices:
            return f"Unknown command '{' '.join(words)}'. Type help to list the commands.\n"
        target = actions[0].choices[word]
    if not words:
        return (target.format_help().replace("usage: cloudhsm-cli", "usage:")
                + "\n  help [<command>]     show help\n  quit                 log out "
                "and leave\n")
    return target.format_help()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def interactive(env: dict[str, str]) -> int:
    parser = build_parser()
    client = Client(env)
    out = sys.stdout
    # The session ends with the process: turn SIGTERM/SIGHUP into an exit that logs out.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        while True:
            out.write(PROMPT)
            out.flush()
            line = sys.stdin.readline()
            if not line:
                out.write("\n")
                break
            try:
                words = shlex.split(line)
            except ValueError as err:
                emit(failure(f"Invalid command line: {err}"))
                continue
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                break
            if words[0] == "help":
                out.write(interactive_help(parser, words[1:]))
                continue
            if words[0] == "interactive":
                emit(failure("Already in interactive mode."))
                continue
            try:
                ns = parser.parse_args(words)
            except UsageError as err:
                out.write(str(err))
                continue
            emit(client.run(ns))
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = dict(os.environ)
    if args and args[0] == "interactive":
        extra = args[1:]
        for i, word in enumerate(extra):  # cloudhsm-cli interactive --cluster-id X
            if word == "--cluster-id" and i + 1 < len(extra):
                env["CLOUDHSM_CLUSTER_ID"] = extra[i + 1]
            if word == "--endpoint-url" and i + 1 < len(extra):
                env["AWS_ENDPOINT_URL"] = extra[i + 1]
        return interactive(env)
    return single(args, env)


if __name__ == "__main__":
    sys.exit(main())
