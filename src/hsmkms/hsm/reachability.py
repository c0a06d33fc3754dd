"""HSMs the client cannot reach: the ``hsm-unreachable`` fault (:mod:`hsmkms.faults`).

Theory of operation. AWS has no API to make one HSM of a cluster stop answering, yet that is
how a cluster's users and keys drift apart (spec cloudhsm.md 3.5): the CloudHSM CLI applies each
user operation to the HSMs it reaches, best effort, and keys are resynchronised by the service
afterwards (cluster-synchronization). While the fault holds, the HSM is ``DEGRADED`` (spec 8.4;
the cluster's own state does not change) and every user and key operation, login and listing
skips it - it is not among the ACTIVE HSMs the rest of the system works with - so it keeps the
contents it had. When the fault is removed it is ``ACTIVE`` again: its users stay as they are
(AWS does not synchronise users; repair with the CLI as spec 3.5 says), and its token keys are
synchronised with the other reachable HSMs' (:func:`hsmkms.hsm.keys.synchronise`).

Pure: a cluster (and the contents of its HSMs, by HSM id) in, the changed ones out; illegal
moves raise and change nothing. The contents live in rows of their own
(:mod:`hsmkms.hsm.contents`); the caller loads and saves them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from hsmkms.cloudhsm.lifecycle import HsmEvent, IllegalTransition, hsm_next
from hsmkms.cloudhsm.model import Cluster, HsmState
from hsmkms.hsm import keys
from hsmkms.hsm.errors import ClusterStateError, InvalidInput
from hsmkms.hsm.model import HsmContents


def move(cluster: Cluster, hsm_id: str, *, reachable: bool) -> Cluster:
    """The cluster with the HSM DEGRADED (``reachable=False``) or ACTIVE again."""
    hsm = next((h for h in cluster.hsms if h.hsm_id == hsm_id), None)
    if hsm is None:
        raise InvalidInput(f"HSM {hsm_id} is not in cluster {cluster.cluster_id}.")
    try:
        state = hsm_next(hsm.state, HsmEvent.REACHABLE if reachable else HsmEvent.UNREACHABLE)
    except IllegalTransition:
        if hsm.state is HsmState.DEGRADED:
            raise ClusterStateError(f"HSM {hsm_id} is already unreachable.") from None
        raise ClusterStateError(f"HSM {hsm_id} is {hsm.state}: only an ACTIVE HSM can be made "
                                "unreachable.") from None
    return dataclasses.replace(cluster, hsms=tuple(
        dataclasses.replace(h, state=state) if h.hsm_id == hsm_id else h for h in cluster.hsms))


def synchronise_returning(cluster: Cluster, contents: Mapping[str, HsmContents], returning: str,
                          backup: HsmContents | None = None) -> dict[str, HsmContents]:
    """The new contents of the ACTIVE HSMs once ``returning`` (ACTIVE again in ``cluster``)
    answers: the returning HSM last, so the copies of the HSMs that stayed reachable win; with
    none, ``backup`` (the contents of the cluster's newest backup: the ones that did were
    deleted, and a deletion backs up first) stands in for them, its tombstones too, so nothing
    deleted comes back."""
    active = [h.hsm_id for h in cluster.active_hsms()]
    others = [i for i in active if i != returning]
    back = [i for i in active if i == returning]
    peers = [contents[i] for i in others]
    if not others and backup is not None:
        peers = [backup]
    merged = keys.synchronise((*peers, *(contents[i] for i in back)))
    return dict(zip(others + back, merged[len(peers) - len(others):], strict=True))


def next_reference(in_service: Iterable[HsmContents]) -> int:
    """The cluster's next key-reference, given the contents of its HSMs in service,
    unreachable ones included (a reference is never handed out twice, even to keys an
    unreachable HSM holds)."""
    return max((c.next_key_reference for c in in_service), default=0)
