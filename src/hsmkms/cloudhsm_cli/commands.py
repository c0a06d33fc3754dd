"""The commands of ``cloudhsm-cli``: one table drives the parser and the help text.

AWS's CloudHSM CLI parses with clap (Rust): options are matched only as spelled (``--rol`` is
an error, not ``--role``), a usage error exits with status 2, and ``help <command>`` prints clap's
layout - a one-line description, ``Usage: ...``, then ``Options:`` with each option and its
value placeholder on one line and the description on the next. The option names, placeholders,
defaults and usage lines below are AWS's (CloudHSM user guide, the ``help`` output quoted on
each command's page); the descriptions are ours, shorter than AWS's. ``--endpoint-url`` is
hsmkms's own: it exists only in single-command mode and never shows in interactive help.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any


class UsageError(Exception):
    """A command line the parser refuses (clap's "error: ..."; exit status 2)."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage

    def render(self, prefix: str) -> str:
        return (f"error: {self}\n\nUsage: {prefix}{self.usage}\n\n"
                "For more information, try '--help'.\n")


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    #: Value placeholder as AWS prints it (``<MAX_ITEMS>``, ``[<FILTER>...]``); "" for a switch.
    value: str = ""
    text: str = ""
    short: str = ""
    default: str | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    #: hsmkms-only: accepted everywhere, shown only in single-command help.
    hsmkms: bool = False

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    @property
    def many(self) -> bool:
        return self.value.endswith("...]")

    def head(self) -> str:
        names = f"{self.short}, {self.flag}" if self.short else f"    {self.flag}"
        return f"  {names} {self.value}".rstrip()

    def body(self) -> str:
        extra = f" [default: {self.default}]" if self.default is not None else ""
        if self.choices:
            extra += f" [possible values: {', '.join(self.choices)}]"
        return self.text + extra


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]
    about: str
    usage: str
    options: tuple[Option, ...]

    @property
    def op(self) -> str:
        return "-".join(self.words)


CLUSTER_ID = Option("--cluster-id", "<CLUSTER_ID>", "The cluster to run the command on; "
                    "defaults to CLOUDHSM_CLUSTER_ID or the cluster interactive mode started "
                    "with")
ENDPOINT_URL = Option("--endpoint-url", "<ENDPOINT_URL>", "hsmkms only: the server to talk "
                      "to; defaults to AWS_ENDPOINT_URL", hsmkms=True)
HELP = Option("--help", "", "Print help", short="-h")
ROLES = ("crypto-user", "admin")


def _role(text: str) -> Option:
    return Option("--role", "<ROLE>", text, choices=ROLES, required=True)


def _username(text: str) -> Option:
    return Option("--username", "<USERNAME>", text, required=True)


PASSWORD = Option("--password", "<PASSWORD>", "The password in plain text; prompted for when "
                  "omitted")


def _filter(purpose: str, *, required: bool = True) -> Option:
    return Option("--filter", "[<FILTER>...]", "Select the key" + purpose + " with "
                  "key-reference=<0x...> or attr.<NAME>=<VALUE> terms (all must match)",
                  required=required)


def _cmd(words: str, about: str, usage: str, *options: Option) -> Command:
    return Command(tuple(words.split()), about, usage, (CLUSTER_ID, ENDPOINT_URL, *options,
                                                        HELP))


COMMANDS: tuple[Command, ...] = (
    _cmd("cluster activate", "Activate a cluster",
         "cluster activate [OPTIONS] [--password <PASSWORD>]",
         Option("--password", "<PASSWORD>", "The new admin password in plain text; prompted "
                "for (twice) when omitted")),
    _cmd("cluster hsm-info", "List info about each HSM in the cluster",
         "cluster hsm-info [OPTIONS]"),
    _cmd("key delete", "Delete a key in the HSM cluster",
         "key delete [OPTIONS] --filter [<FILTER>...]", _filter(" to delete")),
    _cmd("key generate-symmetric aes", "Generate an AES key",
         "key generate-symmetric aes [OPTIONS] --label <LABEL> --key-length-bytes "
         "<KEY_LENGTH_BYTES>",
         Option("--label", "<LABEL>", "Label of the new key (at most 127 characters)",
                required=True),
         Option("--session", "", "Make a session key (hsmkms refuses: only token keys)"),
         Option("--key-length-bytes", "<KEY_LENGTH_BYTES>", "Key length in bytes: 16, 24 or "
                "32", required=True),
         Option("--attributes", "[<KEY_ATTRIBUTES>...]", "Attributes of the new key as "
                "<NAME>=<VALUE> pairs, e.g. encrypt=true"),
         Option("--share-crypto-users", "[<SHARE_CRYPTO_USERS>...]", "Crypto users to share "
                "the new key with (at most seven)"),
         Option("--manage-key-quorum-value", "<MANAGE_KEY_QUORUM_VALUE>", "Quorum to manage "
                "the key (hsmkms refuses values other than 0)"),
         Option("--use-key-quorum-value", "<USE_KEY_QUORUM_VALUE>", "Quorum to use the key "
                "(hsmkms refuses values other than 0)")),
    _cmd("key list", "List the keys the current user owns or shares, and every public key",
         "key list [OPTIONS]",
         _filter("s to list", required=False),
         Option("--max-items", "<MAX_ITEMS>", "Return at most this many keys; a next_token "
                "tells where the rest start", default="10"),
         Option("--starting-token", "<STARTING_TOKEN>", "Continue from the next_token of an "
                "earlier, truncated answer"),
         Option("--verbose", "", "Print every attribute and the key information of each key "
                "(no effect for admins)", short="-v")),
    _cmd("key set-attribute", "Set an attribute for a key in the HSM cluster",
         "key set-attribute [OPTIONS] --filter [<FILTER>...] --name <KEY_ATTRIBUTE> "
         "--value <KEY_ATTRIBUTE_VALUE>",
         _filter(" to change"),
         Option("--name", "<KEY_ATTRIBUTE>", "Name of the attribute to set, e.g. label",
                required=True),
         Option("--value", "<KEY_ATTRIBUTE_VALUE>", "Its new value", required=True)),
    _cmd("key share", "Share a key in the HSM cluster with another user",
         "key share --filter [<FILTER>...] --username <USERNAME> --role <ROLE>",
         _filter(" to share"), _username("The crypto user to share the key with"),
         _role("Role of that user")),
    _cmd("key unshare", "Unshare a key in the HSM cluster with another user",
         "key unshare --filter [<FILTER>...] --username <USERNAME> --role <ROLE>",
         _filter(" to stop sharing"), _username("The crypto user to stop sharing the key "
                                                "with"),
         _role("Role of that user")),
    _cmd("login", "Login to your cluster",
         "login [OPTIONS] --username <USERNAME> --role <ROLE>",
         _username("The user to log in as"), _role("The role of that user"), PASSWORD),
    _cmd("logout", "Logout of your cluster", "logout [OPTIONS]"),
    _cmd("user change-password", "Change a user's password",
         "user change-password [OPTIONS] --username <USERNAME> --role <ROLE> "
         "[--password <PASSWORD>]",
         _username("The user whose password changes"), _role("The role of that user"),
         Option("--password", "<PASSWORD>", "The new password in plain text; prompted for "
                "(twice) when omitted")),
    _cmd("user create", "Create a new user",
         "user create [OPTIONS] --username <USERNAME> --role <ROLE> [--password <PASSWORD>]",
         _username("Name of the new user (case-insensitive, stored in lowercase)"),
         _role("Role of the new user"),
         Option("--password", "<PASSWORD>", "Its password in plain text; prompted for "
                "(twice) when omitted")),
    _cmd("user delete", "Delete a user",
         "user delete [OPTIONS] --username <USERNAME> --role <ROLE>",
         _username("The user to delete"), _role("The role of that user")),
    _cmd("user list", "List the users in your cluster", "user list [OPTIONS]"),
)

#: Descriptions of the command groups (ours: AWS documents none as help text).
GROUPS: dict[tuple[str, ...], str] = {
    (): "AWS CloudHSM CLI for an hsmkms server",
    ("cluster",): "Manage the cluster",
    ("key",): "Manage the keys in the HSMs",
    ("key", "generate-symmetric"): "Generate symmetric keys",
    ("user",): "Manage the users of the HSMs",
}
#: ``cloudhsm-cli interactive``: not in the table (interactive mode can't start itself), but
#: it has a help text of its own in single-command mode.
INTERACTIVE = Command(("interactive",), "Start an interactive session",
                      "interactive [OPTIONS]", (
                          Option("--cluster-id", "<CLUSTER_ID>", "The cluster of the session; "
                                 "defaults to CLOUDHSM_CLUSTER_ID"),
                          ENDPOINT_URL, HELP))
VERSION = Option("--version", "", "Print version", short="-V")
#: The environment single-command mode reads (top-level help, single-command mode only).
ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "The hsmkms server (or --endpoint-url)",
    "CLOUDHSM_CLUSTER_ID": "The cluster (or --cluster-id)",
    "AWS_REGION": "The region (or AWS_DEFAULT_REGION; neither: the server's own)",
    "CLOUDHSM_ROLE": "With CLOUDHSM_PIN (<username>:<password>): log in around one command",
}
#: Top-level words that are not in the table, per mode (listed after the commands).
EXTRAS = {
    "single": {"interactive": "Start an interactive session",
               "help": "Print this message or the help of the given subcommand(s)"},
    "interactive": {"quit": "Log out and end the interactive session",
                    "help": "Print this message or the help of the given subcommand(s)"},
}


# -- finding a command ---------------------------------------------------------------------


def children(path: tuple[str, ...]) -> dict[str, str]:
    """The next words after ``path`` and their descriptions (commands and groups)."""
    out: dict[str, str] = {}
    for c in COMMANDS:
        if c.words[:len(path)] == path and len(c.words) > len(path):
            word = c.words[len(path)]
            sub = (*path, word)
            out[word] = GROUPS.get(sub, c.about) if sub != c.words else c.about
    return dict(sorted(out.items()))


def find(words: list[str]) -> tuple[Command | None, tuple[str, ...], list[str]]:
    """The command ``words`` start with (or None: then the group reached), and the rest."""
    path: tuple[str, ...] = ()
    for i, word in enumerate(words):
        command = next((c for c in COMMANDS if c.words == (*path, word)), None)
        if command is not None:
            return command, command.words, words[i + 1:]
        if word not in children(path):
            return None, path, words[i:]
        path = (*path, word)
    return None, path, []


def group_usage(path: tuple[str, ...]) -> str:
    return " ".join((*path, "<COMMAND>"))


# -- help ----------------------------------------------------------------------------------


def _listing(entries: dict[str, str]) -> list[str]:
    width = max(map(len, entries))
    return [f"  {name.ljust(width)}  {text}" for name, text in entries.items()]


def group_help(path: tuple[str, ...], mode: str, prefix: str) -> str:
    entries = {**children(path), **(EXTRAS[mode] if not path else {})}
    lines = [GROUPS[path], "", f"Usage: {prefix}{group_usage(path)}", "", "Commands:",
             *_listing(entries), "", "Options:"]
    if path or mode != "single":
        return "\n".join([*lines, "  -h, --help  Print help"]) + "\n"
    options = {"-h, --help": "Print help", "-V, --version": VERSION.text}
    lines += [*_listing(options), "", "Environment:", *_listing(ENVIRONMENT)]
    return "\n".join(lines) + "\n"


def command_help(command: Command, mode: str, prefix: str) -> str:
    shown = [o for o in command.options if mode == "single" or not o.hsmkms]
    lines = [command.about, "", f"Usage: {prefix}{command.usage}", "", "Options:"]
    for option in shown:
        lines += [option.head(), "          " + option.body()]
    return "\n".join(lines) + "\n"


def help_text(words: list[str], mode: str, prefix: str) -> str:
    """``help [<command>...]`` (words after the command are ignored); raises UsageError for
    words that name nothing."""
    command, path, rest = find(words)
    if command is None and mode == "single" and words[:1] == ["interactive"]:
        command = INTERACTIVE
    if command is not None:
        return command_help(command, mode, prefix)
    if rest:
        raise UsageError(f"unrecognized subcommand '{rest[0]}'", group_usage(path))
    return group_help(path, mode, prefix)


def help_request(words: list[str]) -> list[str] | None:
    """The words ``help`` or ``-h``/``--help`` ask help for, or None when they do not."""
    if words[:1] == ["help"]:
        return words[1:]
    for i, word in enumerate(words):
        if word in ("-h", "--help"):
            return words[:i]
    return None


# -- parsing -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def __init__(self, command: Command) -> None:
        super().__init__(prog=command.op, usage=command.usage, add_help=False,
                         allow_abbrev=False)
        self.command = command

    def error(self, message: str) -> Any:  # argparse would exit; interactive mode must not
        found = re.fullmatch(r"argument (?:-\w, )?(--[\w-]+): expected one argument", message)
        option = next((o for o in self.command.options if found and o.flag == found[1]), None)
        if option is not None:  # clap's wording
            message = (f"a value is required for '{option.flag} {option.value}' but none "
                       "was supplied")
        raise UsageError(message, self.command.usage)


def parser_for(command: Command) -> argparse.ArgumentParser:
    """argparse for the options of one command: exact names only (``allow_abbrev=False``, as
    clap); required options are checked by :func:`parse`, after unknown ones, as clap does."""
    p = _Parser(command)
    for o in command.options:
        names = [o.short, o.flag] if o.short else [o.flag]
        if o is HELP:
            continue  # help_request() answers -h/--help before parsing
        if not o.value:
            p.add_argument(*names, action="store_true", dest=o.dest)
        else:
            p.add_argument(*names, dest=o.dest, nargs="*" if o.many else None,
                           default=o.default)
    return p


@dataclass(frozen=True, slots=True)
class Parsed:
    command: Command
    args: dict[str, Any]
    cluster_id: str | None
    endpoint_url: str | None


def parse(words: list[str]) -> Parsed | tuple[str, ...]:
    """A parsed command, or the group path when ``words`` stop at a group (help for it)."""
    command, path, rest = find(words)
    if command is None:
        if rest:
            raise UsageError(f"unrecognized subcommand '{rest[0]}'", group_usage(path))
        return path
    ns, extra = parser_for(command).parse_known_args(rest)
    if extra:
        raise UsageError(f"unexpected argument '{extra[0]}' found", command.usage)
    args = vars(ns)
    missing = [f"{o.flag} {o.value}".rstrip() for o in command.options
               if o.required and args.get(o.dest) is None]
    if missing:
        raise UsageError("the following required arguments were not provided: "
                         + ", ".join(missing), command.usage)
    for o in command.options:
        if o.choices and args.get(o.dest) is not None and args[o.dest] not in o.choices:
            raise UsageError(f"invalid value '{args[o.dest]}' for '{o.flag} {o.value}' "
                             f"[possible values: {', '.join(o.choices)}]", command.usage)
    cluster_id, endpoint = args.pop("cluster_id"), args.pop("endpoint_url")
    return Parsed(command, args, cluster_id, endpoint)
