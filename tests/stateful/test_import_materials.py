"""Hypothesis stateful test of imported key material (issue 12: "nothing decryptable is ever lost
while its material exists, nothing decrypts after its material is deleted"), through boto3
against an in-process app.

One ``EXTERNAL`` symmetric key and three candidate materials. Rules import a material (as the
key's first, again, or as new material pending rotation), delete the current or the pending
material, let time pass (material expires at its ValidTo), encrypt under the current material,
and try to import other material. The model knows which material is current and imported, which
is pending, and each material's expiry; invariants:

* the key's state is ``Enabled`` exactly while its current material is imported, else
  ``PendingImport``; ``ExpirationModel``/``ValidTo`` and ``CurrentKeyMaterialId`` agree;
* every ciphertext decrypts (to its plaintext, naming its material) while the key is
  ``Enabled``, and none decrypts while it is not;
* importing material that is not the key's is refused and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hsmkms.testing import InProcess

HOUR = 3600.0
MATERIALS = [os.urandom(32) for _ in range(3)]
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _mid(key_id: str, material: bytes) -> str:
    return hmac.new(b"kms-key-material-id" + key_id.encode(), material,
                    hashlib.sha256).hexdigest()


class ImportedMaterials(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.inproc = InProcess(Path(self.tmp))
        self.kms = self.inproc.client("kms")
        self.key_id = self.kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        self.params: dict[str, Any] | None = None
        #: Index of the current material (None: never imported), whether it is imported now,
        #: and its ValidTo (None: does not expire).
        self.current: int | None = None
        self.imported = False
        self.valid_to: float | None = None
        self.pending: int | None = None
        self.pending_valid_to: float | None = None
        #: (ciphertext, plaintext, material index) made so far.
        self.blobs: list[tuple[bytes, bytes, int]] = []

    def teardown(self) -> None:
        self.inproc.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def now(self) -> float:
        return self.inproc.advance(0)

    def _import(self, index: int, valid_to: float | None, **extra: Any) -> dict[str, Any]:
        if self.params is None or self.params["ParametersValidTo"].timestamp() <= self.now() + 60:
            self.params = self.kms.get_parameters_for_import(
                KeyId=self.key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                WrappingKeySpec="RSA_2048")
        public = serialization.load_der_public_key(self.params["PublicKey"])
        assert isinstance(public, rsa.RSAPublicKey)
        expiry: dict[str, Any] = (
            {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"} if valid_to is None else
            {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to})
        done: dict[str, Any] = self.kms.import_key_material(
            KeyId=self.key_id, ImportToken=self.params["ImportToken"],
            EncryptedKeyMaterial=public.encrypt(MATERIALS[index], OAEP), **expiry, **extra)
        return done

    def _expiry_of(self, hours: int | None) -> float | None:
        return None if hours is None else round(self.now() + hours * HOUR + 60, 3)

    # -- rules ------------------------------------------------------------------------------

    @precondition(lambda self: self.current is None)
    @rule(index=st.integers(0, 2), hours=st.one_of(st.none(), st.integers(1, 6)))
    def first_import(self, index: int, hours: int | None) -> None:
        valid_to = self._expiry_of(hours)
        done = self._import(index, valid_to)
        assert done["KeyMaterialId"] == _mid(self.key_id, MATERIALS[index])
        self.current, self.imported, self.valid_to = index, True, valid_to

    @precondition(lambda self: self.current is not None)
    @rule(hours=st.one_of(st.none(), st.integers(1, 6)))
    def import_again(self, hours: int | None) -> None:
        assert self.current is not None
        valid_to = self._expiry_of(hours)
        self._import(self.current, valid_to)
        self.imported, self.valid_to = True, valid_to

    @precondition(lambda self: self.current is not None)
    @rule(index=st.integers(0, 2))
    def other_material_is_refused(self, index: int) -> None:
        if index in (self.current, self.pending):
            return
        try:
            self._import(index, None, ImportType="EXISTING_KEY_MATERIAL")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "IncorrectKeyMaterialException"
        else:
            raise AssertionError("other material was imported as existing material")

    @precondition(lambda self: self.current is not None)
    @rule(index=st.integers(0, 2), hours=st.one_of(st.none(), st.integers(1, 6)))
    def new_material(self, index: int, hours: int | None) -> None:
        valid_to = self._expiry_of(hours)
        try:
            self._import(index, valid_to, ImportType="NEW_KEY_MATERIAL")
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if index in (self.current, self.pending):
                assert code == "IncorrectKeyMaterialException"
            else:
                assert self.pending is not None
                assert code == "KMSInvalidStateException"
            return
        assert index not in (self.current, self.pending)
        assert self.pending is None
        self.pending, self.pending_valid_to = index, valid_to

    @precondition(lambda self: self.current is not None)
    @rule()
    def delete_current(self) -> None:
        assert self.current is not None
        done = self.kms.delete_imported_key_material(KeyId=self.key_id)
        assert done["KeyMaterialId"] == _mid(self.key_id, MATERIALS[self.current])
        self.imported, self.valid_to = False, None

    @precondition(lambda self: self.pending is not None)
    @rule()
    def delete_pending(self) -> None:
        assert self.pending is not None
        self.kms.delete_imported_key_material(
            KeyId=self.key_id, KeyMaterialId=_mid(self.key_id, MATERIALS[self.pending]))
        self.pending = self.pending_valid_to = None

    @precondition(lambda self: self.imported)
    @rule(data=st.binary(min_size=1, max_size=64))
    def encrypt(self, data: bytes) -> None:
        assert self.current is not None
        blob = self.kms.encrypt(KeyId=self.key_id, Plaintext=data)["CiphertextBlob"]
        self.blobs.append((blob, data, self.current))

    @rule(hours=st.integers(1, 12))
    def time_passes(self, hours: int) -> None:
        now = self.inproc.advance(hours * HOUR)
        if self.valid_to is not None and self.valid_to <= now:
            self.imported, self.valid_to = False, None
        if self.pending_valid_to is not None and self.pending_valid_to <= now:
            self.pending = self.pending_valid_to = None

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def key_agrees_with_the_model(self) -> None:
        meta = self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        assert meta["KeyState"] == ("Enabled" if self.imported else "PendingImport")
        if self.current is None:
            assert "CurrentKeyMaterialId" not in meta
        else:
            assert meta["CurrentKeyMaterialId"] == _mid(self.key_id, MATERIALS[self.current])
        if not self.imported:
            assert "ExpirationModel" not in meta
        elif self.valid_to is None:
            assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
        else:
            assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
            assert meta["ValidTo"].timestamp() == self.valid_to

    @invariant()
    def ciphertexts_decrypt_exactly_while_their_material_is_there(self) -> None:
        for blob, data, index in self.blobs[-4:]:
            try:
                out = self.kms.decrypt(CiphertextBlob=blob)
            except ClientError as err:
                assert not self.imported
                assert err.response["Error"]["Code"] == "KMSInvalidStateException"
                continue
            assert self.imported
            assert (out["Plaintext"], out["KeyMaterialId"]) == (
                data, _mid(self.key_id, MATERIALS[index]))


ImportedMaterials.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestImportedMaterials = ImportedMaterials.TestCase
