"""Key material generated "inside the HSM" and its check value.

The check value (KCV) of a symmetric key is the first 3 bytes of the encryption of an all-zero
block under the key (AWS chsm-cli-key-attribute-details). ``hsmkms.crypto`` has no raw-AES
helper, so this is the one place in the HSM package that touches ``cryptography`` directly
(requested: move :func:`check_value` into ``hsmkms.crypto``).
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hsmkms.store.codec import Secret

AES_LENGTHS = (16, 24, 32)


def new_aes_material(length_bytes: int) -> Secret:
    return Secret(os.urandom(length_bytes))


def check_value(material: bytes) -> str:
    enc = Cipher(algorithms.AES(material), modes.ECB()).encryptor()  # noqa: S305 - KCV is ECB by definition
    return "0x" + (enc.update(bytes(16)) + enc.finalize())[:3].hex()
