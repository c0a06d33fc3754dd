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
``AWS_DEFAULT_REGION`` (neither set: the server's own region, ``HSMKMS_REGION``). Output is
AWS's JSON envelope (``{"error_code": 0, "data": ...}``).
Exit status in single-command mode: 0 when ``error_code`` is 0, 1 when the command failed, 2 for
a usage error (the command line was refused before anything was sent; the message goes to
stderr, as clap's, which also exits 2). A thin HTTP client: stdlib only, so it starts fast;
everything happens on the server (``/_hsmkms/cloudhsm-cli/<command>``). The commands, their
options and help texts are the table in :mod:`hsmkms.cloudhsm_cli.commands`.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from hsmkms import __version__
from hsmkms.cloudhsm_cli.commands import Parsed, UsageError, help_request, help_text, parse
from hsmkms.console import reader_went_away

PROMPT = "aws-cloudhsm > "
SINGLE_PREFIX = "cloudhsm-cli "
#: Commands that need a logged-in user (everything else works without one).
NEEDS_LOGIN = {"logout", "user-create", "user-delete", "user-change-password", "key-list",
               "key-delete", "key-share", "key-unshare", "key-set-attribute",
               "key-generate-symmetric-aes"}
#: Commands whose password prompt asks twice (AWS: creation, change, activation).
CONFIRMED = {"user-create", "user-change-password", "cluster-activate"}


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

    def call(self, op: str, args: dict[str, Any], cluster_id: str | None = None,
             endpoint_url: str | None = None) -> dict[str, Any]:
        endpoint = endpoint_url or self.env.get("AWS_ENDPOINT_URL", "")
        if not endpoint:
            return failure("No hsmkms endpoint: set AWS_ENDPOINT_URL or pass --endpoint-url.")
        # No region in the environment: send none, and the server uses its own (HSMKMS_REGION).
        body = {"region": self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION"),
                "access_key_id": self.env.get("AWS_ACCESS_KEY_ID", ""),
                "cluster_id": cluster_id or self.env.get("CLOUDHSM_CLUSTER_ID", ""),
                "token": self.token, "args": args}
        url = endpoint.rstrip("/") + "/_hsmkms/cloudhsm-cli/" + op
        data = json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 - the user's own endpoint
            url, data=data, method="POST", headers=self.auth_headers(url, data))
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

    def auth_headers(self, url: str, data: bytes) -> dict[str, str]:
        """What a server in ``--auth verify|enforce`` wants: the admin token
        (``HSMKMS_ADMIN_TOKEN`` or ``$HSMKMS_DATA_DIR/admin-token``), else a SigV4 signature
        with the AWS credentials of the environment (signing name ``cloudhsm``). A server in
        ``off`` ignores both."""
        from urllib.parse import urlsplit  # noqa: PLC0415

        from hsmkms.auth.credentials import find_admin_token  # noqa: PLC0415
        from hsmkms.auth.sigv4 import sign_request  # noqa: PLC0415

        headers = {"content-type": "application/json"}
        token = find_admin_token(self.env)
        if token:
            headers["authorization"] = f"Bearer {token}"
            return headers
        akid = self.env.get("AWS_ACCESS_KEY_ID", "")
        secret = self.env.get("AWS_SECRET_ACCESS_KEY", "")
        if not akid or not secret:
            return headers
        parts = urlsplit(url)
        region = self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION") or "us-east-1"
        signed = sign_request("POST", parts.path, {**headers, "host": parts.netloc}, data,
                              access_key_id=akid, secret=secret, region=region,
                              service="cloudhsm", now=time.time(),
                              session_token=self.env.get("AWS_SESSION_TOKEN") or None)
        signed.pop("host")  # urllib sends it
        return signed

    def password(self, op: str, given: str | None) -> str | None:
        if given is not None:
            return given
        first = self.read_password("Enter password:")
        if op in CONFIRMED and self.read_password("Confirm password:") != first:
            return None
        return first

    def run(self, parsed: Parsed) -> dict[str, Any]:
        op, args = parsed.command.op, dict(parsed.args)
        if "password" in args:
            args["password"] = self.password(op, args["password"])
            if args["password"] is None:
                return failure("Passwords do not match.")
        return self.call(op, args, parsed.cluster_id, parsed.endpoint_url)

    def login_from_env(self, parsed: Parsed) -> dict[str, Any] | None:
        role, pin = self.env.get("CLOUDHSM_ROLE"), self.env.get("CLOUDHSM_PIN")
        if not role or not pin:
            return None
        username, sep, password = pin.partition(":")
        if not sep:
            return failure("CLOUDHSM_PIN must be <username>:<password>.")
        return self.call("login", {"username": username, "role": role, "password": password},
                         parsed.cluster_id, parsed.endpoint_url)

    def close(self) -> None:
        if self.token:
            self.call("logout", {})


def single(argv: list[str], env: dict[str, str]) -> int:
    try:
        asked = help_request(argv)
        if asked is not None:
            sys.stdout.write(help_text(asked, "single", SINGLE_PREFIX))
            return 0
        parsed = parse(argv)
    except UsageError as err:
        sys.stderr.write(err.render(SINGLE_PREFIX))
        return 2
    if not isinstance(parsed, Parsed):  # a group without its command: clap prints its help
        sys.stderr.write(help_text(list(parsed), "single", SINGLE_PREFIX))
        return 2
    client = Client(env)
    try:
        if parsed.command.op in NEEDS_LOGIN:
            done = client.login_from_env(parsed)
            if done is not None and done.get("error_code") != 0:
                return emit(done)
        return emit(client.run(parsed))
    finally:
        client.close()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def interactive_line(client: Client, words: list[str]) -> str | dict[str, Any] | None:
    """One command of the interactive session: help text, a JSON answer, or None (quit)."""
    if words[0] in ("quit", "exit"):
        return None
    if words[0] == "interactive":
        return failure("Already in interactive mode.")
    try:
        asked = help_request(words)
        if asked is not None:
            return help_text(asked, "interactive", "")
        parsed = parse(words)
    except UsageError as err:
        return err.render("")
    if not isinstance(parsed, Parsed):
        return help_text(list(parsed), "interactive", "")
    return client.run(parsed)


def interactive(env: dict[str, str]) -> int:
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
            answer = interactive_line(client, words)
            if answer is None:
                break
            if isinstance(answer, str):
                out.write(answer)
            else:
                emit(answer)
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # here, not at exit, where a closed pipe can't be caught
    except BrokenPipeError:
        return reader_went_away()
    return code


def _main(args: list[str]) -> int:
    env = dict(os.environ)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"cloudhsm-cli {__version__} (hsmkms)\n")
        return 0
    # ``interactive --help`` is a help request like any other (single() answers it).
    if args and args[0] == "interactive" and help_request(args) is None:
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
