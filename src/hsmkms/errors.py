"""The one error hierarchy.

Every error a client can see is a subclass of :class:`ServiceError` whose class name is the AWS
error code (``__type`` on the JSON wire, ``<Code>`` in EC2 XML). It carries the HTTP status and
whether it is a server fault (botocore's ``fault`` trait: such errors are 500s that SDKs retry).

Service packages (``hsmkms.kms.errors``, ``hsmkms.cloudhsm.errors``, ...) subclass these; lower
layers (crypto, store, HSM) raise their own errors and the services translate them.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """An error returned to a client in its service's wire format."""

    status: ClassVar[int] = 400
    #: The JSON body's message member when it is not the service model's (errors outside the
    #: model that AWS's front layer writes, e.g. ``AccessDeniedException``'s ``Message``).
    message_member: ClassVar[str | None] = None
    #: ``None`` means "send no message member at all" (AWS does this for InvalidCiphertext).
    message: str | None

    def __init__(self, message: str | None = "") -> None:
        super().__init__(message or "")
        self.message = message

    @classmethod
    def code(cls) -> str:
        return cls.__name__

    @property
    def fault(self) -> bool:
        return self.status >= 500


class ClientError(ServiceError):
    status = 400


class ServerFault(ServiceError):
    status = 500


# Errors common to every AWS service (not in the service models; AWS's "common errors").


class ValidationException(ClientError):
    pass


class SerializationException(ClientError):
    pass


class UnknownOperationException(ClientError):
    pass


class AccessDeniedException(ClientError):
    """Written by AWS's front layer, not the service model: ``Message`` (spec authz.md §4.8)."""

    message_member = "Message"


class ThrottlingException(ClientError):
    pass


class RequestEntityTooLargeException(ClientError):
    status = 413


class InternalFailure(ServerFault):
    pass


class NotImplementedYet(ClientError):
    """An operation of the service model hsmkms does not implement yet.

    A 400 (not a 5xx) so that SDKs do not retry it; the code names itself so users can tell it
    apart from any AWS error.
    """

    @classmethod
    def code(cls) -> str:
        return "NotImplementedYetException"
