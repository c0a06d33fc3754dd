"""GetKeyLastUsage's use case over a fake usage log: a use recorded before the key existed (an
earlier key with the same ARN: a multi-Region replica deleted and replicated again) is not its."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.audit import KeyUsage
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.ids import IdSource
from hsmkms.kms.authz import AllowAll
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.keys import Keys
from hsmkms.kms.model import Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.kms.usecases.usage import KeyUsageReport
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase


class FixedLog:
    def __init__(self, usage: KeyUsage) -> None:
        self.usage = usage

    def last_key_usage(self, scope: str, key_arn: str) -> KeyUsage | None:  # noqa: ARG002
        return self.usage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


@pytest.mark.parametrize(("used_at", "reported"), [(999.0, False), (1000.0, True),
                                                   (1500.0, True)])
def test_a_use_before_the_key_was_created_is_not_its(store: Store, used_at: float,
                                                      reported: bool) -> None:  # noqa: FBT001
    ctx = RequestContext("111122223333", "us-east-1", "request-1", 1000.0)
    access = KeyAccess(Keys(store), Backends({Origin.AWS_KMS: LocalBackend(IdSource())}),
                       AllowAll())
    with store.unit_of_work():
        key = KeyLifecycle(access, Scheduler(store, lambda: 0.0)).create(ctx, NewKey())
    use = KeyUsage("Encrypt", used_at, "event-1", "request-0")
    found = KeyUsageReport(access, FixedLog(use), tracking_start=0.0).last_usage(ctx, key.key_id)
    assert found.usage == (use if reported else None)
    assert found.tracking_start == 1000.0
