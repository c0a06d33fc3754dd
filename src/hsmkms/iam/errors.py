"""IAM's error codes (the model's, with their HTTP statuses; spec authz.md §3.1) and the common
ones the query services answer (``ValidationError``, ``AccessDenied``)."""

from __future__ import annotations

from typing import ClassVar

from hsmkms.errors import ClientError


class NoSuchEntity(ClientError):
    status: ClassVar[int] = 404


class EntityAlreadyExists(ClientError):
    status: ClassVar[int] = 409


class LimitExceeded(ClientError):
    status: ClassVar[int] = 409


class DeleteConflict(ClientError):
    status: ClassVar[int] = 409


class InvalidInput(ClientError):
    pass


class MalformedPolicyDocument(ClientError):
    pass


class ValidationError(ClientError):
    pass


class AccessDenied(ClientError):
    status: ClassVar[int] = 403


class InvalidAction(ClientError):
    pass


class MissingParameter(ClientError):
    pass
