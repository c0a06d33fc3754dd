"""Authentication failures as each protocol answers them (spec authz.md §2.7, §9): one table,
(protocol, :class:`~hsmkms.auth.sigv4.Failure`) -> the error class, its status and text."""

from __future__ import annotations

from typing import ClassVar

from hsmkms.auth.sigv4 import SIGNATURE_MISMATCH, Failure, SigV4Error, long_mismatch
from hsmkms.errors import ClientError, ServiceError
from hsmkms.forgery import MissingAuthenticationToken, MissingAuthenticationTokenException

# -- JSON 1.1 services (KMS, CloudHSM v2, CloudTrail): HTTP 400 ----------------------------------


class UnrecognizedClientException(ClientError):
    pass


class InvalidSignatureException(ClientError):
    pass


class IncompleteSignatureException(ClientError):
    pass


class ExpiredTokenException(ClientError):
    pass


# -- query services (IAM, STS): HTTP 403 -------------------------------------------------------


class InvalidClientTokenId(ClientError):
    status: ClassVar[int] = 403


class SignatureDoesNotMatch(ClientError):
    status: ClassVar[int] = 403


class IncompleteSignature(ClientError):
    pass


class ExpiredToken(ClientError):
    status: ClassVar[int] = 403


# -- EC2 ----------------------------------------------------------------------------------------


class AuthFailure(ClientError):
    status: ClassVar[int] = 401


class RequestExpired(ClientError):
    pass


EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"

JSON, QUERY, EC2 = "json", "query", "ec2"

#: (protocol, failure) -> (error class, fixed text or None for the failure's own message).
ANSWERS: dict[tuple[str, Failure], tuple[type[ServiceError], str | None]] = {
    (JSON, Failure.MISSING): (MissingAuthenticationTokenException, None),
    (JSON, Failure.INCOMPLETE): (IncompleteSignatureException, None),
    (JSON, Failure.INVALID_SIGNATURE): (InvalidSignatureException, None),
    (JSON, Failure.SKEW): (InvalidSignatureException, None),
    (JSON, Failure.UNKNOWN_KEY): (UnrecognizedClientException, None),
    (JSON, Failure.INVALID_TOKEN): (UnrecognizedClientException, None),
    (JSON, Failure.EXPIRED_TOKEN): (ExpiredTokenException, None),
    (QUERY, Failure.MISSING): (MissingAuthenticationToken, None),
    (QUERY, Failure.INCOMPLETE): (IncompleteSignature, None),
    (QUERY, Failure.INVALID_SIGNATURE): (SignatureDoesNotMatch, None),
    (QUERY, Failure.SKEW): (SignatureDoesNotMatch, None),
    (QUERY, Failure.UNKNOWN_KEY): (InvalidClientTokenId, None),
    (QUERY, Failure.INVALID_TOKEN): (InvalidClientTokenId, None),
    (QUERY, Failure.EXPIRED_TOKEN): (ExpiredToken, None),
    # EC2: an unsigned request keeps the answer hsmkms gives in every mode (forgery).
    (EC2, Failure.MISSING): (MissingAuthenticationToken, None),
    (EC2, Failure.INCOMPLETE): (IncompleteSignature, None),
    (EC2, Failure.INVALID_SIGNATURE): (AuthFailure, EC2_AUTH_FAILURE),
    (EC2, Failure.SKEW): (RequestExpired, "Request has expired."),
    (EC2, Failure.UNKNOWN_KEY): (AuthFailure, EC2_AUTH_FAILURE),
    (EC2, Failure.INVALID_TOKEN): (AuthFailure, EC2_AUTH_FAILURE),
    (EC2, Failure.EXPIRED_TOKEN): (RequestExpired, "Request has expired."),
}


def answer(protocol: str, err: SigV4Error, *, long_messages: bool = False) -> ServiceError:
    """The error ``protocol`` answers ``err`` with. A signature mismatch says what the server
    expected (canonical request, string to sign) on the query services, as they do, and on
    the JSON services only with ``long_messages`` (KMS's recorded answers stop after the
    first paragraph; spec §10 Q4)."""
    cls, text = ANSWERS[(protocol, err.failure)]
    message = err.message if text is None else text
    if message == SIGNATURE_MISMATCH and err.canonical_request and (
            protocol == QUERY or long_messages):
        message = long_mismatch(err)
    return cls(message)
