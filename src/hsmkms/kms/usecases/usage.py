"""GetKeyLastUsage: a key's most recent successful cryptographic use (spec kms-keys.md §7).

What a use is, and where it is kept, is CloudTrail's business (:class:`hsmkms.audit.UsageLog`):
the latest successful event of a tracked operation that names the key, so the reported
``CloudTrailEventId`` is the id ``LookupEvents`` shows for that call and ``KmsRequestId`` the
request id its caller was answered with. Nothing is written on the path of the cryptographic
calls beyond the event each of them already gets.

``TrackingStartDate`` is the later of the key's creation and the time this data store began
tracking (recorded once, when it first started with key usage tracking; spec §10 Q18). The
operation declares no state errors: it answers in every key state, PendingDeletion included.
"""

from __future__ import annotations

from dataclasses import dataclass

from hsmkms.audit import KeyUsage, UsageLog
from hsmkms.context import RequestContext
from hsmkms.kms.model import Key
from hsmkms.kms.usecases.access import KeyAccess


@dataclass(frozen=True, slots=True)
class LastUsage:
    key: Key
    #: None: no successful use since :attr:`tracking_start`.
    usage: KeyUsage | None
    tracking_start: float


class KeyUsageReport:
    def __init__(self, access: KeyAccess, log: UsageLog, tracking_start: float) -> None:
        self.access = access
        self.log = log
        self.tracking_start = tracking_start

    def last_usage(self, ctx: RequestContext, key_id: str) -> LastUsage:
        # Key id or key ARN only: an alias is NotFoundException, as for management operations.
        key = self.access.key(ctx, key_id, "GetKeyLastUsage", aliases=False)
        usage = self.log.last_key_usage(ctx.scope, key.arn)
        if usage is not None and usage.timestamp < key.created:
            # A use of an earlier key with this ARN (a multi-Region replica deleted and
            # replicated again into the same Region): not this key's.
            usage = None
        return LastUsage(key, usage, max(self.tracking_start, key.created))
