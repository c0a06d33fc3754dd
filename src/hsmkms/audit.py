"""What the services tell CloudTrail, without knowing CloudTrail.

* :class:`AuditDetail` rides on each request's :class:`~hsmkms.context.RequestContext`: a use
  case adds what the event of its call carries beyond the request and the response
  (``additionalEventData``, the resources it touched). The recorder reads it after the call's
  unit of work has ended, so the event says what was committed.
* :class:`UsageLog` is the port ``GetKeyLastUsage`` reads: each key's latest successful
  cryptographic use, as CloudTrail recorded it (so its event id is a ``LookupEvents`` event's).
* :class:`AuditLog` is the port for events nobody called for (``DeleteKey`` at the end of a
  waiting period): the recorder writes them only if the work that raised them commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class AuditDetail:
    additional_event_data: dict[str, Any] = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)

    def add(self, *, additional_event_data: dict[str, Any] | None = None,
            resources: list[str] | None = None) -> None:
        if additional_event_data:
            self.additional_event_data.update(additional_event_data)
        if resources:
            self.resources.extend(resources)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the call that caused another event (its identity, address and request)."""

    access_key_id: str
    source_ip: str
    user_agent: str
    request_id: str


class AuditLog(Protocol):
    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None,
                             service_event_details: dict[str, Any] | None = None) -> None:
        """Record an event AWS raises itself, dated ``when`` (e.g. a job's due time);
        ``service_event_details``: its ``serviceEventDetails`` (``RotateKey``'s, say)."""

    def record_call_event(self, scope: str, operation: str, when: float, *, caller: Caller,
                          params: dict[str, Any], result: dict[str, Any] | None,
                          invoked_by: str, resources: bool = True) -> None:
        """Record a further ``AwsApiCall`` event that a call makes in another Region on the
        caller's behalf (ReplicateKey's ``CreateKey`` in the replica Region), its identity
        ``invokedBy`` the service; ``resources``: whether it names the keys it is about."""


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """A key's latest use: the operation, when (the call's exact time; its event's
    ``eventTime`` is the whole second), the CloudTrail event that recorded it and the request
    id its caller was answered with."""

    operation: str
    timestamp: float
    event_id: str
    request_id: str


class UsageLog(Protocol):
    def last_key_usage(self, scope: str, key_arn: str) -> KeyUsage | None:
        """The latest successful tracked use of the key ``key_arn`` of ``scope`` (None: no use
        since tracking began)."""
        ...
