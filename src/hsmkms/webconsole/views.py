"""What the console shows, read in process from the services' own state (their repositories),
never through the AWS wire: plain JSON-ready dicts for the page, and the doctor's facts.

Everything here runs under the app lock (the console's routes run in the envelope) and reads
only: no unit of work, no write.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hsmkms.cloudhsm.model import CLUSTERS, Cluster
from hsmkms.doctor import checks
from hsmkms.doctor import facts as df
from hsmkms.doctor.checks import STORE_CHECKS
from hsmkms.doctor.findings import Finding
from hsmkms.ec2 import views as ec2_views
from hsmkms.kms.keystores import STORES, CustomKeyStore
from hsmkms.kms.model import KEYS, Key
from hsmkms.kms.states import reported_state
from hsmkms.scope import Scope
from hsmkms.trail.log import Query

if TYPE_CHECKING:
    from hsmkms.app import App

#: CloudTrail events read for a store's doctor report (DeleteKey, DisconnectCustomKeyStore).
TRAIL_LOOKBACK = 200


def _scopes(app: App) -> list[str]:
    found: set[str] = set()
    for kind, cls in ((CLUSTERS, Cluster), (STORES, CustomKeyStore), (KEYS, Key)):
        found.update(app.store.repository(kind, cls).scopes())
    return sorted(found)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def state(app: App) -> dict[str, Any]:
    """The whole picture: accounts and Regions, clusters and HSMs, key stores with the doctor's
    connection check, keys, faults and the clock."""
    clusters = app.store.repository(CLUSTERS, Cluster)
    stores = app.store.repository(STORES, CustomKeyStore)
    keys = app.store.repository(KEYS, Key)
    scopes: list[dict[str, Any]] = []
    for scope in _scopes(app):
        account, region = Scope(scope).parts()
        connected = connected_stores(stores.values(scope))
        scopes.append({
            "account": account, "region": region,
            "clusters": [_cluster(c) for c in clusters.values(scope)
                         if c.state != "DELETED"],
            "stores": [_store(app, scope, s) for s in stores.values(scope)],
            "keys": [_key(k, connected) for k in sorted(keys.values(scope),
                                                        key=lambda k: k.created)],
        })
    return {"now": _num(app.clock.now()), "offset": app.clock.offset, "auth": app.config.auth,
            "scopes": scopes,
            "faults": [{"fault_id": f.fault_id, "fault": f.fault, "cluster_id": f.cluster_id,
                        "hsm_id": f.hsm_id, "created": f.created} for f in app.faults.all()]}


def _cluster(c: Cluster) -> dict[str, Any]:
    zones: dict[str, list[dict[str, str]]] = {zone: [] for zone in sorted(c.subnet_mapping)}
    for h in c.hsms:
        zones.setdefault(h.availability_zone, []).append(
            {"hsm_id": h.hsm_id, "state": str(h.state), "eni_ip": h.eni_ip,
             "subnet_id": h.subnet_id})
    return {"cluster_id": c.cluster_id, "state": str(c.state), "hsm_type": c.hsm_type,
            "vpc_id": c.vpc_id, "security_group": c.security_group,
            "zones": [{"zone": z, "subnet_id": c.subnet_mapping.get(z, ""), "hsms": hs}
                      for z, hs in zones.items()]}


def _store(app: App, scope: str, s: CustomKeyStore) -> dict[str, Any]:
    conn = checks.connection(store_facts(app, scope, s, trail=False))
    return {"store_id": s.store_id, "name": s.name, "cluster_id": s.cluster_id,
            "state": str(s.state), "error_code": str(s.error_code) if s.error_code else None,
            "check": finding(conn)}


def connected_stores(stores: list[CustomKeyStore]) -> frozenset[str]:
    return frozenset(s.store_id for s in stores if s.state == "CONNECTED")


def key_state(k: Key, connected: frozenset[str]) -> str:
    """The state KMS reports (Unavailable while the key's store is not connected)."""
    return str(reported_state(k, lambda key: key.custom_key_store_id in connected))


def _key(k: Key, connected: frozenset[str]) -> dict[str, Any]:
    return {"key_id": k.key_id, "arn": k.arn, "state": key_state(k, connected), "spec": k.key_spec,
            "usage": k.key_usage, "origin": str(k.origin), "store_id": k.custom_key_store_id,
            "description": k.description}


def finding(f: Finding) -> dict[str, Any]:
    return {"check": f.check, "subject": f.subject, "status": f.status.value,
            "summary": f.summary, "cause": f.cause, "guide": f.guide,
            "evidence": list(f.evidence), "fix": list(f.fix)}


# -- the doctor, in process -------------------------------------------------------------------

def doctor(app: App, store_id: str) -> dict[str, Any] | None:
    """The doctor's checks of one key store (None: no such store in any account and Region),
    from facts read in process."""
    stores = app.store.repository(STORES, CustomKeyStore)
    for scope in stores.scopes():
        found = stores.get(scope, store_id)
        if found is not None:
            facts = store_facts(app, scope, found, trail=True)
            findings = [r for check in STORE_CHECKS if (r := check(facts)) is not None]
            account, region = Scope(scope).parts()
            return {"store_id": store_id, "account": account, "region": region,
                    "healthy": checks.healthy(findings),
                    "checks": [finding(f) for f in findings]}
    return None


def store_facts(app: App, scope: str, s: CustomKeyStore, *, trail: bool) -> df.StoreFacts:
    """What ``hsmkms doctor``'s fetch layer reads through the public APIs, read from the
    services' state instead (no probe, no ``cloudhsm-cli``: the checks needing those say
    they were not asked for). ``trail``: also read the CloudTrail events the checks use."""
    store = df.Store(s.store_id, s.name, s.cluster_id, str(s.state),
                     str(s.error_code) if s.error_code else None, s.trust_anchor)
    found = app.store.repository(CLUSTERS, Cluster).get(scope, s.cluster_id)
    cluster = None if found is None else df.Cluster(
        found.cluster_id, str(found.state), found.hsm_type,
        tuple(df.Hsm(h.hsm_id, h.availability_zone, h.subnet_id, str(h.state))
              for h in found.hsms),
        dict(found.subnet_mapping), found.security_group, found.cluster_certificate or None)
    subnets: tuple[df.Subnet, ...] = ()
    group = None
    if cluster is not None and not cluster.gone:
        subnets = tuple(_subnet(app, scope, zone, subnet_id)
                        for zone, subnet_id in sorted(cluster.subnet_mapping.items()))
        if cluster.security_group:
            sg = app.network.groups.find(scope, cluster.security_group)
            group = (df.SecurityGroup(cluster.security_group, exists=False) if sg is None
                     else df.SecurityGroup.from_api(ec2_views.security_group(
                         sg, Scope(scope).region)))
    backups = tuple(df.Backup(b.backup_id, str(b.state), b.create_timestamp)
                    for b in app.cloudhsm.backups.of_cluster(scope, s.cluster_id))
    deletions: tuple[df.Deletion, ...] = ()
    disconnected_by = None
    if trail:
        deletions, disconnected_by = _trail_facts(app, scope, store)
    return df.StoreFacts(store, cluster, subnets, group, backups, deletions,
                         disconnected_by=disconnected_by)


def _subnet(app: App, scope: str, zone: str, subnet_id: str) -> df.Subnet:
    found = app.network.get_subnet(scope, subnet_id)
    return df.Subnet(subnet_id, zone, None if found is None
                     else found.available_ip_address_count)


def _trail_facts(app: App, scope: str, store: df.Store
                 ) -> tuple[tuple[df.Deletion, ...], df.TrailEvent | None]:
    """The store's DeleteKey events and its newest DisconnectCustomKeyStore, as the doctor's
    fetch layer reads them with LookupEvents."""
    now = app.clock.now()
    deletions: list[df.Deletion] = []
    for row in app.trail.lookup(Query(scope, 0, now + 1, ("EventName", "DeleteKey"),
                                      limit=TRAIL_LOOKBACK)):
        record = _record(row.body)
        found = df.Deletion.from_record(record, float(row.time)) if record else None
        if found is not None and found.store_id == store.store_id:
            deletions.append(found)
    disconnected_by = None
    if store.state != "CONNECTED":
        for row in app.trail.lookup(Query(scope, 0, now + 1,
                                          ("EventName", "DisconnectCustomKeyStore"),
                                          limit=50)):
            record = _record(row.body)
            params = (record or {}).get("requestParameters") or {}
            if params.get("customKeyStoreId") == store.store_id:
                disconnected_by = df.TrailEvent(row.event_name, float(row.time),
                                                row.username or "?")
                break
    return tuple(deletions), disconnected_by


def _record(body: str) -> dict[str, Any] | None:
    import json  # noqa: PLC0415

    try:
        found = json.loads(body)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
