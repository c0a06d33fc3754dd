"""EC2 resource ID formats, checked before existence (spec ec2.md 1.6, 4.3, 7.6).

An ID is its prefix, ``-``, and 8 or 17 lowercase hex digits: 17 since 2016-2018, 8 for
resources of older accounts (EC2 user guide, resource-ids). Anything else is
``<Kind>.Malformed``: AWS answers ``InvalidVpcId.Malformed`` for ``vpc-012345678`` (9 digits,
ansible-collections/community.aws PR #1475), and its IDs are lowercase. Which code and text
AWS uses for an ID that is malformed differs between operations in the wild; hsmkms uses the
documented codes with ``Invalid id: "<value>" (expecting "<prefix>-...")``.
"""

from __future__ import annotations

import re

from hsmkms.ec2 import errors as e

_MALFORMED: dict[str, type[e.Ec2Error]] = {
    "vpc": e.InvalidVpcIDMalformed,
    "subnet": e.InvalidSubnetIDMalformed,
    "eni": e.InvalidNetworkInterfaceIdMalformed,
    "sg": e.InvalidGroupIdMalformed,
}


def check_id(prefix: str, ident: str) -> None:
    """Raise the ``Malformed`` error of ``prefix`` (``vpc``, ``subnet``, ``eni``, ``sg``)."""
    if re.fullmatch(prefix + r"-(?:[0-9a-f]{8}|[0-9a-f]{17})", ident) is None:
        raise _MALFORMED[prefix](f'Invalid id: "{ident}" (expecting "{prefix}-...")')
