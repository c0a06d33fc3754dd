"""Hypothesis stateful test of key rotation (issue 12: "nothing decryptable is ever lost while its
material exists"), through boto3 against an in-process app.

One ``AWS_KMS`` symmetric key. Rules rotate it on demand, turn automatic rotation on and off with
a period, let the clock run (automatic rotations come due, each one period after the last),
disable and enable it, and encrypt. The model counts the rotations and knows which material
made each ciphertext; invariants:

* every ciphertext made so far decrypts (while the key is enabled) to its plaintext and names
  the material that made it, however many rotations came since;
* ``CurrentKeyMaterialId`` is the material of the latest ciphertext's era, ``ListKeyRotations``
  lists exactly the rotations the model counted, oldest first, each material once;
* ``GetKeyRotationStatus`` says what the model says about automatic rotation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hsmkms.testing import InProcess

DAY = 86400.0


class Rotations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.inproc = InProcess(Path(self.tmp))
        self.kms = self.inproc.client("kms")
        meta = self.kms.create_key()["KeyMetadata"]
        self.key_id = meta["KeyId"]
        #: Material ids in the order they became current (the first is the key's own).
        self.materials: list[str] = [meta["CurrentKeyMaterialId"]]
        self.on_demand = 0
        self.enabled = True
        #: Automatic rotation: its period in days and the next due date (None: off).
        self.period: int | None = None
        self.next_due: float | None = None
        #: (ciphertext, plaintext, material id) made so far.
        self.blobs: list[tuple[bytes, bytes, str]] = []

    def teardown(self) -> None:
        self.inproc.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _current(self) -> str:
        meta = self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        current: str = meta["CurrentKeyMaterialId"]
        return current

    def _rotated(self) -> None:
        """A rotation happened: its material is new and now current."""
        current = self._current()
        assert current not in self.materials
        self.materials.append(current)

    def _advance(self, seconds: float) -> None:
        """Let the clock run; automatic rotations that come due happen, one per period."""
        before = self.inproc.advance(0)
        now = self.inproc.advance(seconds)
        assert now >= before + seconds
        due = 0
        while self.enabled and self.next_due is not None and self.period is not None \
                and self.next_due <= now:
            due += 1
            self.next_due += self.period * DAY
        rotations = self.kms.list_key_rotations(KeyId=self.key_id, Limit=1000)["Rotations"]
        assert len(rotations) == len(self.materials) - 1 + due
        for _ in range(due):
            self.materials.append(rotations[len(self.materials) - 1]["KeyMaterialId"])

    # -- rules ------------------------------------------------------------------------------

    @precondition(lambda self: self.enabled and self.on_demand < 25)
    @rule()
    def rotate_on_demand(self) -> None:
        status = self.kms.get_key_rotation_status(KeyId=self.key_id)
        due_soon = self.next_due is not None and self.next_due - self.inproc.advance(0) < 1200
        if due_soon:  # an automatic rotation within 20 minutes: ConflictException
            return
        self.kms.rotate_key_on_demand(KeyId=self.key_id)
        self.on_demand += 1
        assert status.get("NextRotationDate") == self.kms.get_key_rotation_status(
            KeyId=self.key_id).get("NextRotationDate")  # on demand moves no schedule
        self.inproc.advance(30)  # the on-demand job (1 s of clock time) completes
        self._rotated()

    @precondition(lambda self: self.enabled)
    @rule(days=st.sampled_from([90, 180, 365]))
    def enable_rotation(self, days: int) -> None:
        self.kms.enable_key_rotation(KeyId=self.key_id, RotationPeriodInDays=days)
        status = self.kms.get_key_rotation_status(KeyId=self.key_id)
        assert status["RotationPeriodInDays"] == days
        self.period = days
        self.next_due = status["NextRotationDate"].timestamp()

    @precondition(lambda self: self.enabled and self.period is not None)
    @rule()
    def disable_rotation(self) -> None:
        self.kms.disable_key_rotation(KeyId=self.key_id)
        self.period = self.next_due = None

    @precondition(lambda self: self.enabled and self.period is None)
    @rule()
    def disable_key(self) -> None:
        self.kms.disable_key(KeyId=self.key_id)
        self.enabled = False

    @precondition(lambda self: not self.enabled)
    @rule()
    def enable_key(self) -> None:
        self.kms.enable_key(KeyId=self.key_id)
        self.enabled = True

    @rule(days=st.integers(1, 400))
    def time_passes(self, days: int) -> None:
        self._advance(days * DAY)

    @precondition(lambda self: self.enabled)
    @rule(data=st.binary(min_size=1, max_size=64))
    def encrypt(self, data: bytes) -> None:
        blob = self.kms.encrypt(KeyId=self.key_id, Plaintext=data)["CiphertextBlob"]
        self.blobs.append((blob, data, self.materials[-1]))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_ciphertext_decrypts_under_its_own_material(self) -> None:
        if not self.enabled:
            return
        for blob, data, material in self.blobs:
            out = self.kms.decrypt(CiphertextBlob=blob)
            assert (out["Plaintext"], out["KeyMaterialId"]) == (data, material)

    @invariant()
    def the_key_lists_the_rotations_the_model_counted(self) -> None:
        assert self._current() == self.materials[-1]
        listed = self.kms.list_key_rotations(KeyId=self.key_id, Limit=1000,
                                             IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        assert [r["KeyMaterialId"] for r in listed] == self.materials
        assert [r["KeyMaterialState"] for r in listed] == (
            ["NON_CURRENT"] * (len(self.materials) - 1) + ["CURRENT"])

    @invariant()
    def the_rotation_status_is_the_models(self) -> None:
        status = self.kms.get_key_rotation_status(KeyId=self.key_id)
        assert status["KeyRotationEnabled"] is (self.period is not None)
        if self.period is not None:
            assert status["RotationPeriodInDays"] == self.period
            assert self.next_due is not None
            assert status["NextRotationDate"].timestamp() == self.next_due


Rotations.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
test_rotation_state_machine = Rotations.TestCase
