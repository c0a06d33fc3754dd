"""The ``hsmkms`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from hsmkms import __version__
from hsmkms.config import SETTINGS, Config
from hsmkms.console import reader_went_away
from hsmkms.doctor import command as doctor

#: What hsmkms writes in a data dir: its state (wiped by ``--fresh``) and the root key (kept).
STATE_FILES = ("hsmkms.db", "hsmkms.db-wal", "hsmkms.db-shm", "hsmkms.db-journal", "demo.json",
               "demo.tmp")
KEPT_FILES = ("root.key", "credentials", "admin-token")
ROOT_KEY_WARNING = ("hsmkms: warning: --root-key shows in the process list (ps) to every user "
                    "of this machine; set HSMKMS_ROOT_KEY or let hsmkms keep "
                    "<data-dir>/root.key (mode 0600) instead\n")
#: Flags whose value is a secret (shown in ``ps``); ``database`` only when its URL has a password.
SECRET_FLAGS = ("root_key", "root_secret_access_key", "root_keys", "admin_token", "database")
OFF_WARNING = ("hsmkms: warning: listening on {host} with --auth off: anyone who can reach "
               "this port can use every key; use --auth verify or enforce (see README, "
               "Authentication)\n")
#: Loggers that would print request bodies (passwords) at debug level: never below warning.
CHATTY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsmkms", description="AWS KMS with CloudHSM key "
                                     "stores, self-hosted. Every flag can also be set with the "
                                     "environment variable shown.")
    parser.add_argument("-V", "--version", action="version", version=f"hsmkms {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server in the foreground")
    for name, (var, default, text) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        serve.add_argument(flag, dest=name, default=None,
                           help=f"{text} (env {var}, default {default!r})")
    serve.add_argument("--demo", action="store_true",
                       help="build a ready demo environment and print how to use it")
    serve.add_argument("--fresh", action="store_true",
                       help="start from an empty state: delete the data dir's database and "
                       "demo.json first (root.key is kept); refused if the dir holds other "
                       "files or a server uses it")
    clock = sub.add_parser("clock", help="the clock of a data dir (the server must be stopped)")
    clock_actions = clock.add_subparsers(dest="action", required=True)
    reset = clock_actions.add_parser(
        "reset", help="set the clock back to real time; scheduled work keeps its due time")
    reset.add_argument("--data-dir", default=None,
                       help="the data dir (env HSMKMS_DATA_DIR, default '.hsmkms')")
    reset.add_argument("--database", default=None,
                       help="a PostgreSQL database (libpq URL) instead of a data dir (env "
                       "HSMKMS_DATABASE when --data-dir is not given)")
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
    doctor.add_parser(sub)
    return parser


def _fault(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    from hsmkms.auth.credentials import find_admin_token  # noqa: PLC0415

    base = (args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
            or "http://127.0.0.1:4599").rstrip("/") + "/_hsmkms/faults"

    def call(method: str, url: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        token = find_admin_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, method=method,  # noqa: S310
                                     headers=headers)
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


def in_use(db_path: Path) -> bool:
    """Whether another process has the database open (a running server): in WAL mode an
    exclusive lock can't be had while any other connection is open, even an idle one."""
    if not db_path.exists():
        return False
    conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=0.2)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()
    return False


def wipe_state(data_dir: Path) -> str | None:
    """``--fresh``: delete the state files; the reason for refusing, or None when done."""
    if not data_dir.exists():
        return None
    if not data_dir.is_dir():
        return f"{data_dir} is not a directory"
    foreign = sorted(p.name for p in data_dir.iterdir()
                     if p.name not in STATE_FILES + KEPT_FILES)
    if foreign:
        return (f"{data_dir} is not an hsmkms data dir (it holds {', '.join(foreign[:5])}); "
                "nothing was deleted")
    if in_use(data_dir / "hsmkms.db"):
        return f"{data_dir} is in use by a running hsmkms; stop it first"
    for name in STATE_FILES:
        (data_dir / name).unlink(missing_ok=True)
    return None


def _clock_reset(args: argparse.Namespace) -> int:
    """The clock is real time plus a stored offset; resetting sets the offset to 0. Nothing
    else is rewritten: work scheduled while the clock was ahead (a key deletion, a backup)
    keeps its due time - the time DescribeKey's DeletionDate shows - and runs when the
    clock reaches it again; moving it would make it disagree with what the APIs report."""
    from hsmkms.clock import _META_KEY, Clock  # noqa: PLC0415 - the clock's own key
    from hsmkms.store.sqlite import SqliteDatabase  # noqa: PLC0415

    url = args.database or ("" if args.data_dir else os.environ.get(SETTINGS["database"][0]))
    if url:
        return _clock_reset_database(url)
    var, default, _help = SETTINGS["data_dir"]
    data_dir = Path(args.data_dir or os.environ.get(var) or default)
    db_path = data_dir / "hsmkms.db"
    if not db_path.is_file():
        sys.stderr.write(f"hsmkms clock reset: {data_dir} is not an hsmkms data dir "
                         "(no hsmkms.db)\n")
        return 2
    if in_use(db_path):
        sys.stderr.write(f"hsmkms clock reset: {data_dir} is in use by a running hsmkms; "
                         "stop it first\n")
        return 1
    db = SqliteDatabase(db_path)
    try:
        offset = Clock(db).offset
        db.set_meta(_META_KEY, repr(0.0))
    finally:
        db.close()
    sys.stdout.write(f"hsmkms clock reset: the clock of {data_dir} is real time again "
                     f"(it was {offset:.0f} seconds ahead)\n")
    return 0


def auth_lines(config: Config) -> str:
    """The start-up lines about the auth mode (peers' users ran with enforcement silently
    off: say it)."""
    if config.auth == "off":
        return "auth off (signatures are not checked)\n"
    where = config.data_dir.resolve()
    creds = ("HSMKMS_ROOT_ACCESS_KEY_ID" if config.root_access_key_id
             else f"{where / 'credentials'} (profile hsmkms-root)")
    token = "HSMKMS_ADMIN_TOKEN" if config.admin_token else str(where / "admin-token")
    return (f"auth {config.auth}: root credentials {creds}; admin token {token}\n")


def _loopback(host: str) -> bool:
    import ipaddress  # noqa: PLC0415

    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _clock_reset_database(url: str) -> int:
    """``hsmkms clock reset --database URL``: the same, refused while a node serves it."""
    from hsmkms.clock import _META_KEY, Clock  # noqa: PLC0415 - the clock's own key
    from hsmkms.store.base import StoreRefused  # noqa: PLC0415
    from hsmkms.store.databases import open_database, redacted  # noqa: PLC0415

    try:
        db = open_database(url, Path())
    except StoreRefused as exc:
        sys.stderr.write(f"hsmkms clock reset: cannot open {redacted(url)}: {exc}\n")
        return 1
    try:
        if not db.join():
            sys.stderr.write(f"hsmkms clock reset: {redacted(url)} is in use by a running "
                             "hsmkms; stop every node first\n")
            return 1
        offset = Clock(db).offset
        db.set_meta(_META_KEY, repr(0.0))
    finally:
        db.close()
    sys.stdout.write(f"hsmkms clock reset: the clock of {redacted(url)} is real time again "
                     f"(it was {offset:.0f} seconds ahead)\n")
    return 0


def _warn_about_auth(args: argparse.Namespace, config: Config) -> None:
    """Secrets given as flags (``ps`` shows them); ``--auth off`` on a non-loopback address."""
    from hsmkms.store.databases import has_password  # noqa: PLC0415 - keeps --help light

    for name in SECRET_FLAGS[1:]:
        value = getattr(args, name)
        if value is not None and (name != "database" or has_password(value)):
            flag = "--" + name.replace("_", "-")
            sys.stderr.write(f"hsmkms: warning: {flag} shows in the process list (ps) to "
                             f"every user of this machine; set {SETTINGS[name][0]} instead\n")
    if config.auth == "off" and not _loopback(config.host):
        sys.stderr.write(OFF_WARNING.format(host=config.host))


def announce_when_listening(config: Config) -> threading.Thread:
    """Print where the server listens and its data dir once it answers (the server runs in
    the foreground, so a thread waits for it)."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(config.host, host)  # noqa: S104
    probe = f"http://{local}:{config.port}/_hsmkms/health"
    text = (f"hsmkms {__version__} listening on http://{host}:{config.port}\n"
            f"data dir {config.data_dir.resolve()}\n")
    if config.database:
        from hsmkms.store.databases import redacted  # noqa: PLC0415 - keeps --help light

        text += f"database {redacted(config.database)}\n"
    text += auth_lines(config)

    # Straight to the server: an http_proxy in the environment must not carry the probe away.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def wait() -> None:
        while True:
            try:
                opener.open(probe, timeout=5).close()
            except OSError:
                time.sleep(0.05)
                continue
            sys.stdout.write(text)
            sys.stdout.flush()
            return

    thread = threading.Thread(target=wait, name="hsmkms-announce", daemon=True)
    thread.start()
    return thread


def _serve(args: argparse.Namespace) -> int:
    overrides = {k: getattr(args, k) for k in SETTINGS}
    try:
        config = Config.from_env(overrides)
    except ValueError as exc:
        sys.stderr.write(f"hsmkms: {exc}\n")
        return 2
    if args.root_key is not None:
        sys.stderr.write(ROOT_KEY_WARNING)
    _warn_about_auth(args, config)
    if args.fresh and config.database:
        sys.stderr.write("hsmkms: --fresh empties the data dir's SQLite state; with --database, "
                         "drop and create the PostgreSQL database instead\n")
        return 2
    if args.fresh:
        refused = wipe_state(config.data_dir)
        if refused is not None:
            sys.stderr.write(f"hsmkms: --fresh: {refused}\n")
            return 2
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LOGGERS:  # the demo's boto3 clients log request bodies at debug
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
    from hsmkms.server import serve  # noqa: PLC0415 - keeps `hsmkms --help` light
    from hsmkms.store.base import StoreRefused  # noqa: PLC0415
    from hsmkms.store.databases import describe  # noqa: PLC0415

    announce_when_listening(config)
    try:
        serve(config, demo=args.demo)
    except StoreRefused as exc:
        where = describe(config.database, config.data_dir)
        sys.stderr.write(f"hsmkms: cannot open {where}: {exc}\n")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "fault":
        try:
            code = _fault(args)
            sys.stdout.flush()  # here, not at exit, where a closed pipe can't be caught
        except BrokenPipeError:
            return reader_went_away()
        return code
    if args.command == "clock":
        return _clock_reset(args)
    if args.command == "doctor":
        return doctor.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
