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

Pure: a cluster in, the changed cluster out; illegal moves raise and change nothing.
"""

from __future__ import annotations

import dataclasses

from hsmkms.cloudhsm.lifecycle import HsmEvent, IllegalTransition, hsm_next
from hsmkms.cloudhsm.model import Cluster, Hsm, HsmState
from hsmkms.hsm import keys
from hsmkms.hsm.errors import ClusterStateError, InvalidInput
from hsmkms.hsm.model import HsmContents


def move(cluster: Cluster, hsm_id: str, *, reachable: bool,
         backup: HsmContents | None = None) -> Cluster:
    """``backup``: the contents of the cluster's newest backup, the source of the keys made
    meanwhile when no other HSM stayed reachable (the ones that did were deleted, and a
    deletion backs up first)."""
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
    hsms = tuple(dataclasses.replace(h, state=state) if h.hsm_id == hsm_id else h
                 for h in cluster.hsms)
    if reachable:
        hsms = _synchronise_keys(hsms, hsm_id, backup)
    return dataclasses.replace(cluster, hsms=hsms)


def _synchronise_keys(hsms: tuple[Hsm, ...], returning: str,
                      backup: HsmContents | None) -> tuple[Hsm, ...]:
    """The returning HSM last, so the copies of the HSMs that stayed reachable win; with none,
    the newest backup stands in for them (its tombstones too: nothing deleted comes back)."""
    active = [h for h in hsms if h.state is HsmState.ACTIVE]
    others = [h for h in active if h.hsm_id != returning]
    back = [h for h in active if h.hsm_id == returning]
    peers = [h.contents for h in others]
    if not others and backup is not None:
        peers = [backup]
    merged = keys.synchronise((*peers, *(h.contents for h in back)))
    synced = dict(zip([h.hsm_id for h in others] + [h.hsm_id for h in back],
                      merged[len(peers) - len(others):], strict=True))
    return tuple(dataclasses.replace(h, contents=synced[h.hsm_id]) if h.hsm_id in synced
                 else h for h in hsms)


def next_reference(cluster: Cluster) -> int:
    """The cluster's next key-reference, unreachable HSMs included (a reference is never
    handed out twice, even to keys an unreachable HSM holds)."""
    return max((h.contents.next_key_reference for h in cluster.hsms_in_service()), default=0)
