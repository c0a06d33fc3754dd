"""Errors raised inside the HSMs (not wire errors: KMS and the CLI routes translate them).

AWS documents the CloudHSM CLI envelope (``{"error_code": 1, "data": "<message>"}``) but not
the texts for most failures (spec cloudhsm.md section 8, question 11). The texts below are ours,
one clear sentence each, except where AWS is quoted (marked). They are the one table to correct
when better evidence turns up.
"""

from __future__ import annotations


class HsmError(Exception):
    """Base class; ``str(err)`` is the message the CLI prints in ``data``."""

    default = "The HSM operation failed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default)

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(HsmError):
    default = "Invalid input."


class SessionKeyRefused(InvalidInput):
    """hsmkms keeps token keys only (``--session`` and ``--attributes token=false``)."""

    default = "Session keys are not supported; generate a token key."


class QuorumRefused(InvalidInput):
    default = "Key quorum values are not supported."


class UserNotFound(HsmError):
    default = "User does not exist."


class UserAlreadyExists(HsmError):
    default = "User already exists."


class InvalidCredentials(HsmError):
    # Client SDK 5 text for a wrong password (aws-cloudhsm-jce-examples issue #81).
    default = "Incorrect authentication credentials."


class UserLockedOut(HsmError):
    default = ("User is locked out after too many failed login attempts; an admin must "
               "change the password.")


class UserLoggedIn(HsmError):
    default = "User is currently logged in."


class UserOwnsKeys(HsmError):
    default = "User owns keys and cannot be deleted."


class NoActiveHsm(HsmError):
    default = "The cluster has no active HSM."


class ClusterNotFound(HsmError):
    default = "Cluster not found."


class ClusterStateError(HsmError):
    default = "The cluster is not in a state that allows this operation."


class KeyNotFound(HsmError):
    default = "Key not found."


class MultipleKeysMatched(HsmError):
    """AWS text (manage-keys-cloudhsm-cli-filtering)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"Key selection criteria matched {count} keys. Refine selection "
                         "criteria to select a single key.")


class Pkcs11SessionsExhausted(HsmError):
    default = "No PKCS #11 session is available on the HSM: all sessions are in use."


class NotLoggedIn(HsmError):
    default = "You must be logged in to perform this operation."


class AlreadyLoggedIn(HsmError):
    default = "A user is already logged in. Log out first."


class PermissionDenied(HsmError):
    default = "This operation is not permitted for the current role."
