"""Who is calling, where, and when: handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass, field

from hsmkms.audit import AuditDetail
from hsmkms.principal import Principal
from hsmkms.scope import Scope


@dataclass(slots=True)  # not frozen: one is made per request, and frozen costs ~1.5 us to build
class RequestContext:
    account: str
    region: str
    request_id: str
    now: float
    access_key_id: str = ""
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    service: str = ""
    operation: str = ""
    #: Who signed the request (verify/enforce: its root user, an IAM user, a role session);
    #: None in ``off``, where the account's root user is assumed.
    principal: Principal | None = None
    #: What the call's CloudTrail event carries beyond its request and response.
    audit: AuditDetail = field(default_factory=AuditDetail, compare=False, repr=False)
    #: ``"<account>/<region>"``, built once (use cases read it many times per request).
    scope: Scope = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.scope = Scope.of(self.account, self.region)
