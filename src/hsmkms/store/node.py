"""What a node checks when it starts serving a database: the settings its nodes share, and
whether another node serves it already.

Settings that change what the service does (the timing profile, quotas, the default account and
Region; :data:`hsmkms.config.SHARED`) must be the same on every node of one database, or the
same request would get different answers depending on the node it reaches. The first node (one
that finds no other serving the database) records its settings in the ``meta`` table; a node
that starts while another serves the database and has other settings refuses to start and
names the differences. To change them, stop every node and start them again with the new ones:
the first to start records them.

Only one node may serve a database for now: each node keeps every aggregate in memory, loaded
at start-up and never read again (:class:`~hsmkms.store.base.Store`), so a second node would
answer from stale state and overwrite the first's writes (docs/postgresql.md says what must
change first). A second node is refused with a message that says so, once its settings have
been compared (so that a mismatch is reported as such).
"""

from __future__ import annotations

import json

from hsmkms.store.base import Database, StoreRefused

SETTINGS_KEY = "node_settings"


class SettingsMismatch(StoreRefused):
    """This node's shared settings differ from those of the nodes serving the database."""


class AlreadyServed(StoreRefused):
    """Another node serves the database (one node per database for now)."""


def join(db: Database, settings: dict[str, str]) -> None:
    """Start serving ``db`` with ``settings`` (the flag that sets each -> its value), or raise
    :class:`StoreRefused` saying why not."""
    if db.join():
        db.set_meta(SETTINGS_KEY, json.dumps(settings, sort_keys=True))
        return
    stored = db.get_meta(SETTINGS_KEY)
    theirs: dict[str, str] = json.loads(stored) if stored is not None else {}
    differing = sorted(name for name in settings if theirs.get(name, settings[name])
                       != settings[name])
    if differing:
        raise SettingsMismatch(
            "the nodes serving this database run with "
            + ", ".join(f"{n} {theirs[n]}" for n in differing) + "; this node has "
            + ", ".join(f"{n} {settings[n]}" for n in differing)
            + ". Start it with the same settings, or stop every node to change them "
            "(the first node to start records its own)")
    raise AlreadyServed(
        "another hsmkms node serves this database; one node per database for now "
        "(several nodes need the database to be the source of truth: docs/postgresql.md)")
