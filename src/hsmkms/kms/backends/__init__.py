"""Where a KMS key's material lives and how it is used: one :class:`KeyBackend` per origin.

* :class:`~hsmkms.kms.backends.local.LocalBackend` - ``AWS_KMS``: AES-256 material kept by KMS,
  sealed at rest.
* :class:`~hsmkms.kms.backends.cloudhsm.CloudHsmBackend` - ``AWS_CLOUDHSM``: a backing key inside
  the HSMs of the key store's cluster, used through the store's connection.

``EXTERNAL`` and ``EXTERNAL_KEY_STORE`` will be further classes (and columns of
:mod:`hsmkms.kms.capabilities`). Whatever a backend does, the ciphertext blob format is the one
of :mod:`hsmkms.crypto` (format 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.kms.model import Key, Origin


class KeyBackend(Protocol):
    def available(self, key: Key) -> bool:
        """Whether the key can be reached at all (False: it reports ``Unavailable``)."""
        ...

    def create_material(self, ctx: RequestContext, key: Key,
                        custom_key_store_id: str | None) -> Key:
        """``key`` with its material made (CreateKey), or the AWS error that prevents it."""
        ...

    def cipher(self, ctx: RequestContext, key: Key) -> AbstractContextManager[crypto.KeyCipher]:
        """Encrypt and decrypt with the key's material, or the AWS error that prevents it."""
        ...

    def delete_material(self, scope: str, key: Key) -> dict[str, str] | None:
        """The key's waiting period ended: drop its material (best effort); returns the
        ``additionalEventData`` of the ``DeleteKey`` event (None: none)."""
        ...

    def metadata_extras(self, key: Key) -> dict[str, Any]:
        """``KeyMetadata`` members of this origin (e.g. ``CloudHsmClusterId``)."""
        ...

    def trail_extras(self, scope: str, key: Key, operation: str) -> dict[str, str]:
        """``additionalEventData`` of the CloudTrail event of ``operation`` on the key."""
        ...


class Backends:
    """The backend of each origin."""

    def __init__(self, by_origin: Mapping[Origin, KeyBackend]) -> None:
        self._by_origin = dict(by_origin)

    def of(self, key: Key) -> KeyBackend:
        return self._by_origin[key.origin]

    def for_origin(self, origin: Origin) -> KeyBackend:
        return self._by_origin[origin]

    def available(self, key: Key) -> bool:
        return self.of(key).available(key)
