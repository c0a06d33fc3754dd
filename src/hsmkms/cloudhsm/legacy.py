"""Old data directories: HSM contents inside the cluster and backup documents.

Until issue 9 (part 4) every HSM of a ``cloudhsm.cluster`` document carried its ``contents``
(users, keys with their material) and every ``cloudhsm.backup`` document a copy of one HSM's.
On first load those are split into rows of their own (:mod:`hsmkms.hsm.contents`,
:class:`~hsmkms.cloudhsm.model.BackupContents`) and the documents are rewritten without them,
all in one unit of work. The sealed secrets are unsealed and sealed again with the same root
key by the codec, so nothing is lost. A database without such documents is left alone.
"""

from __future__ import annotations

import json
from typing import Any

from hsmkms.cloudhsm.model import BACKUPS, CLUSTERS, Backup, BackupContents, Cluster
from hsmkms.hsm.contents import ContentsRows
from hsmkms.hsm.model import HsmContents
from hsmkms.store.base import Repository, Store


def _legacy(kind: str, store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    """``(scope, id, document)`` of the documents of ``kind`` that still hold contents."""
    found = []
    for scope, ident, body in store.db.load(kind):
        if '"contents"' in body:  # cheap test first: most documents are new ones
            found.append((scope, ident, json.loads(body)))
    return found


def split_contents(store: Store, clusters: Repository[Cluster], backups: Repository[Backup],
                   snapshots: Repository[BackupContents], rows: ContentsRows) -> None:
    old_clusters = [(s, i, d) for s, i, d in _legacy(CLUSTERS, store)
                    if any("contents" in h for h in d.get("hsms", []))]
    old_backups = [(s, i, d) for s, i, d in _legacy(BACKUPS, store) if "contents" in d]
    if not old_clusters and not old_backups:
        return
    with store.unit_of_work():
        for scope, ident, doc in old_clusters:
            for hsm in doc["hsms"]:
                if "contents" in hsm:
                    rows.replace(scope, ident, hsm["hsm_id"],
                                 store.codec.load(HsmContents, hsm["contents"]))
            cluster = clusters.get(scope, ident)
            if cluster is not None:
                clusters.put(scope, ident, cluster)  # written again, without the contents
        for scope, ident, doc in old_backups:
            snapshots.put(scope, ident, BackupContents(
                store.codec.load(HsmContents, doc["contents"])))
            backup = backups.get(scope, ident)
            if backup is not None:
                backups.put(scope, ident, backup)
