"""What one HSM holds: users and key objects (see the HSM-contents issue for the full model).

Shared contract: :class:`HsmContents` is a frozen value; each HSM of a cluster has its own copy,
and a backup is a copy too. ``HsmContents()`` is the contents of a brand-new HSM of a new,
uninitialised cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HsmContents:
    pass
