"""``cloudhsm-cli`` help and usage errors, through the real console script: clap's layout
(AWS's option names, placeholders, defaults and usage lines), exact option names only, exit
status 2 for usage errors, hsmkms's ``--endpoint-url`` only in single-command help."""

from __future__ import annotations

import subprocess

import pytest
from test_cloudhsm_cli import PROMPT, Session, command, env_for, failure, new_cluster

from hsmkms import __version__
from hsmkms.testing.server import ServerProcess

CLUSTER_ID_HELP = ("          The cluster to run the command on; defaults to CLOUDHSM_CLUSTER_ID "
                   "or the cluster interactive mode started with\n")
ENDPOINT_HELP = ("      --endpoint-url <ENDPOINT_URL>\n"
                 "          hsmkms only: the server to talk to; defaults to AWS_ENDPOINT_URL\n")

INTERACTIVE_HELP = """\
AWS CloudHSM CLI for an hsmkms server

Usage: <COMMAND>

Commands:
  cluster  Manage the cluster
  key      Manage the keys in the HSMs
  login    Login to your cluster
  logout   Logout of your cluster
  user     Manage the users of the HSMs
  quit     Log out and end the interactive session
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help  Print help
"""

SINGLE_HELP = """\
AWS CloudHSM CLI for an hsmkms server

Usage: cloudhsm-cli <COMMAND>

Commands:
  cluster      Manage the cluster
  key          Manage the keys in the HSMs
  login        Login to your cluster
  logout       Logout of your cluster
  user         Manage the users of the HSMs
  interactive  Start an interactive session
  help         Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help
  -V, --version  Print version

Environment:
  AWS_ENDPOINT_URL     The hsmkms server (or --endpoint-url)
  CLOUDHSM_CLUSTER_ID  The cluster (or --cluster-id)
  AWS_REGION           The region (or AWS_DEFAULT_REGION; neither: the server's own)
  CLOUDHSM_ROLE        With CLOUDHSM_PIN (<username>:<password>): log in around one command
"""

INTERACTIVE_COMMAND_HELP = """\
Start an interactive session

Usage: cloudhsm-cli interactive [OPTIONS]

Options:
      --cluster-id <CLUSTER_ID>
          The cluster of the session; defaults to CLOUDHSM_CLUSTER_ID
      --endpoint-url <ENDPOINT_URL>
          hsmkms only: the server to talk to; defaults to AWS_ENDPOINT_URL
  -h, --help
          Print help
"""


KEY_LIST_HELP = """\
List the keys the current user owns or shares, and every public key

Usage: @PREFIX@key list [OPTIONS]

Options:
      --cluster-id <CLUSTER_ID>
@CLUSTER_ID_HELP@@ENDPOINT@      --filter [<FILTER>...]
          Select the keys to list with key-reference=<0x...> or attr.<NAME>=<VALUE> terms \
(all must match)
      --max-items <MAX_ITEMS>
          Return at most this many keys; a next_token tells where the rest start \
[default: 10]
      --starting-token <STARTING_TOKEN>
          Continue from the next_token of an earlier, truncated answer
  -v, --verbose
          Print every attribute and the key information of each key (no effect for admins)
  -h, --help
          Print help
"""


def key_list_help(prefix: str = "", endpoint: str = "") -> str:
    return (KEY_LIST_HELP.replace("@PREFIX@", prefix)
            .replace("@CLUSTER_ID_HELP@", CLUSTER_ID_HELP).replace("@ENDPOINT@", endpoint))


LOGIN_HELP = f"""\
Login to your cluster

Usage: login [OPTIONS] --username <USERNAME> --role <ROLE>

Options:
      --cluster-id <CLUSTER_ID>
{CLUSTER_ID_HELP}\
      --username <USERNAME>
          The user to log in as
      --role <ROLE>
          The role of that user [possible values: crypto-user, admin]
      --password <PASSWORD>
          The password in plain text; prompted for when omitted
  -h, --help
          Print help
"""

KEY_HELP = """\
Manage the keys in the HSMs

Usage: key <COMMAND>

Commands:
  delete              Delete a key in the HSM cluster
  generate-symmetric  Generate symmetric keys
  list                List the keys the current user owns or shares, and every public key
  set-attribute       Set an attribute for a key in the HSM cluster
  share               Share a key in the HSM cluster with another user
  unshare             Unshare a key in the HSM cluster with another user

Options:
  -h, --help  Print help
"""


def usage_error(message: str, usage: str, prefix: str = "") -> str:
    return (f"error: {message}\n\nUsage: {prefix}{usage}\n\n"
            "For more information, try '--help'.\n")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The console script with no server configured: help and usage errors need none."""
    return subprocess.run([*command(), *args], env={"PATH": "/usr/bin:/bin"},  # noqa: S603
                          capture_output=True, text=True, timeout=60, input=stdin, check=False)


def chunks(stdout: str) -> list[str]:
    return stdout.split(PROMPT)[1:]


def test_interactive_help_texts() -> None:
    done = run("interactive", stdin="help\nhelp key list\nhelp login\nhelp key\n"
               "key list --help\nlogin -h\nquit\n")
    assert done.returncode == 0, done
    out = chunks(done.stdout)
    assert out[0] == INTERACTIVE_HELP
    assert out[1] == key_list_help()
    assert out[2] == LOGIN_HELP
    assert out[3] == KEY_HELP
    assert out[4] == key_list_help()
    assert out[5] == LOGIN_HELP
    assert "  interactive  " not in out[0]
    assert "--endpoint-url" not in "".join(out)


def test_single_command_help_exits_zero_and_shows_endpoint_url() -> None:
    for args in (["help"], ["--help"], ["-h"]):
        done = run(*args)
        assert (done.returncode, done.stdout, done.stderr) == (0, SINGLE_HELP, ""), args
    for args in (["help", "key", "list"], ["key", "list", "--help"],
                 ["key", "list", "--filter", "attr.label=x", "-h"]):
        done = run(*args)
        assert (done.returncode, done.stdout) == (
            0, key_list_help("cloudhsm-cli ", ENDPOINT_HELP)), args
    done = run("help", "user", "create")
    assert done.stdout.splitlines()[2] == ("Usage: cloudhsm-cli user create [OPTIONS] --username "
                                           "<USERNAME> --role <ROLE> [--password <PASSWORD>]")
    done = run("help", "key", "generate-symmetric", "aes")
    assert done.stdout.splitlines()[2] == (
        "Usage: cloudhsm-cli key generate-symmetric aes [OPTIONS] --label <LABEL> "
        "--key-length-bytes <KEY_LENGTH_BYTES>")
    assert "      --attributes [<KEY_ATTRIBUTES>...]" in done.stdout.splitlines()
    assert "      --share-crypto-users [<SHARE_CRYPTO_USERS>...]" in done.stdout.splitlines()


def test_interactive_help_prints_help_without_a_session() -> None:
    """No prompt, no reading stdin: the help text and exit status 0."""
    for args in (["interactive", "--help"], ["interactive", "-h"], ["help", "interactive"],
                 ["interactive", "--cluster-id", "cluster-x", "--help"]):
        done = run(*args, stdin="quit\n")
        assert (done.returncode, done.stdout, done.stderr) == (
            0, INTERACTIVE_COMMAND_HELP, ""), args


def test_version() -> None:
    for flag in ("--version", "-V"):
        done = run(flag)
        assert (done.returncode, done.stdout, done.stderr) == (
            0, f"cloudhsm-cli {__version__} (hsmkms)\n", ""), flag


@pytest.mark.parametrize(("args", "message", "usage"), [
    (["login", "--user", "alice", "--rol", "crypto-user", "--pass", "x"],
     "unexpected argument '--user' found",
     "login [OPTIONS] --username <USERNAME> --role <ROLE>"),
    (["login", "--username", "alice", "--role", "crypto-user", "--pass", "x"],
     "unexpected argument '--pass' found",
     "login [OPTIONS] --username <USERNAME> --role <ROLE>"),
    (["key", "list", "--max"], "unexpected argument '--max' found", "key list [OPTIONS]"),
    (["user", "create", "--username", "x"],
     "the following required arguments were not provided: --role <ROLE>",
     "user create [OPTIONS] --username <USERNAME> --role <ROLE> [--password <PASSWORD>]"),
    (["user", "delete", "--username", "x", "--role", "boss"],
     "invalid value 'boss' for '--role <ROLE>' [possible values: crypto-user, admin]",
     "user delete [OPTIONS] --username <USERNAME> --role <ROLE>"),
    (["key", "list", "--max-items"],
     "a value is required for '--max-items <MAX_ITEMS>' but none was supplied",
     "key list [OPTIONS]"),
    (["bogus"], "unrecognized subcommand 'bogus'", "<COMMAND>"),
    (["key", "lisst"], "unrecognized subcommand 'lisst'", "key <COMMAND>"),
    (["help", "key", "bogus"], "unrecognized subcommand 'bogus'", "key <COMMAND>"),
])
def test_usage_errors_exit_2(args: list[str], message: str, usage: str) -> None:
    done = run(*args)
    assert (done.returncode, done.stdout, done.stderr) == (
        2, "", usage_error(message, usage, "cloudhsm-cli ")), done


def test_a_group_without_its_command_prints_its_help_and_exits_2() -> None:
    done = run("key")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == KEY_HELP.replace("Usage: key", "Usage: cloudhsm-cli key")
    assert run().returncode == 2


def test_abbreviated_options_do_not_log_in(hsmkms_server: ServerProcess) -> None:
    cid = new_cluster(hsmkms_server)
    s = Session(hsmkms_server, cid)
    try:
        s.p.sendline("login --user admin --rol admin --pass adminpass1")
        s.p.expect_exact(PROMPT)
        assert s.p.before.replace("\r\n", "\n").endswith(usage_error(
            "unexpected argument '--user' found",
            "login [OPTIONS] --username <USERNAME> --role <ROLE>"))
        assert s.run("key list") == failure("You must be logged in to perform this operation.")
        assert s.login("admin", "admin", "adminpass1")["error_code"] == 0
    finally:
        s.quit()
    done = subprocess.run([*command(), "login", "--username", "admin", "--role", "admin",  # noqa: S603
                           "--password=adminpass1"], env=env_for(hsmkms_server, cid),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done
