"""CloudHSM identifiers and ARNs.

IDs are a prefix plus 11 characters of the lowercase base32 alphabet, as in AWS's examples
(``cluster-igklspoyj5v``, ``hsm-ted36yp5b2x``, ``backup-ro5c4er4aac``); the model accepts
11-16 of ``[2-7a-zA-Z]``. Randomness is injected (``rand(n) -> n bytes``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hsmkms.scope import Scope

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ID_LENGTH = 11
Random = Callable[[int], bytes]

_ARN = re.compile(r"arn:aws(?:-us-gov)?:cloudhsm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                  r"(?P<kind>backup|cluster|hsm)/(?P<id>(?:backup|cluster|hsm)-[2-7a-zA-Z]{11,16})")


def new_id(prefix: str, rand: Random) -> str:
    return prefix + "-" + "".join(ALPHABET[b % 32] for b in rand(ID_LENGTH))


def arn(kind: str, region: str, account: str, ident: str) -> str:
    return f"arn:aws:cloudhsm:{region}:{account}:{kind}/{ident}"


@dataclass(frozen=True, slots=True)
class Arn:
    region: str
    account: str
    kind: str
    ident: str

    @property
    def scope(self) -> str:
        return Scope.of(self.account, self.region)


def parse_arn(text: str) -> Arn | None:
    m = _ARN.fullmatch(text)
    if m is None:
        return None
    return Arn(m["region"], m["account"], m["kind"], m["id"])
