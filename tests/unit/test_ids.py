"""hsmkms.ids: one seeded source for every identifier, in AWS's shapes."""

from __future__ import annotations

import re

from hsmkms.ec2.ids import check_id
from hsmkms.ids import IdSource


def test_a_seed_gives_the_same_ids() -> None:
    one, two = IdSource(7), IdSource(7)
    assert [one.uuid(), one.prefixed("vpc"), one.mac(), one.bytes(4)] == \
        [two.uuid(), two.prefixed("vpc"), two.mac(), two.bytes(4)]
    assert IdSource(8).uuid() != IdSource(7).uuid()


def test_shapes() -> None:
    ids = IdSource(1)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        ids.uuid())
    assert ids.event_id(0x12345678).startswith("12345678-")
    assert re.fullmatch(r"cks-[0-9a-f]{17}", ids.prefixed("cks"))
    check_id("subnet", ids.prefixed("subnet"))  # EC2 accepts it as one of its own ids
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", ids.mac())
    assert len(ids.bytes(16)) == 16
