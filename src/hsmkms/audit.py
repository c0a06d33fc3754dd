"""What the services tell CloudTrail, without knowing CloudTrail.

* :class:`AuditDetail` rides on each request's :class:`~hsmkms.context.RequestContext`: a use
  case adds what the event of its call carries beyond the request and the response
  (``additionalEventData``, the resources it touched). The recorder reads it after the call's
  unit of work has ended, so the event says what was committed.
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


class AuditLog(Protocol):
    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None,
                             service_event_details: dict[str, Any] | None = None) -> None:
        """Record an event AWS raises itself, dated ``when`` (e.g. a job's due time), with its
        ``serviceEventDetails`` (``DeleteExpiredKeyMaterial``, ``RotateKey``)."""
