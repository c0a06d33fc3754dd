"""Key material generated "inside the HSM" and its check value (computed by
:func:`hsmkms.crypto.check_value`, the one module that touches ``cryptography``)."""

from __future__ import annotations

from hsmkms import crypto
from hsmkms.store.codec import Secret

AES_LENGTHS = (16, 24, 32)


def new_aes_material(length_bytes: int) -> Secret:
    return Secret(crypto.new_aes_key(length_bytes))


def check_value(material: bytes) -> str:
    return "0x" + crypto.check_value(material).hex()
