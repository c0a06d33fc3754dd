"""CloudTrail's modelled errors that LookupEvents raises (HTTP 400, member ``Message``)."""

from __future__ import annotations

from hsmkms.errors import ClientError


class InvalidLookupAttributesException(ClientError):
    pass


class InvalidTimeRangeException(ClientError):
    pass


class InvalidMaxResultsException(ClientError):
    pass


class InvalidNextTokenException(ClientError):
    pass
