"""Durable state behind narrow interfaces.

* :class:`~hsmkms.store.base.Database` is the only thing that talks SQL (one class per dialect:
  :class:`~hsmkms.store.sqlite.SqliteDatabase`, the default, and
  :class:`~hsmkms.store.postgres.PostgresDatabase`, chosen by
  :func:`~hsmkms.store.databases.open_database`), over one migration history
  (:mod:`hsmkms.store.migrate`).
* :class:`~hsmkms.store.base.Store` keeps every aggregate in memory for fast reads and writes
  through to the database; a :meth:`~hsmkms.store.base.Store.unit_of_work` stages the writes of
  one request and commits them in one transaction, or drops them all if the request fails.
* :class:`~hsmkms.store.base.Repository` is the narrow interface domain code sees.
"""

from hsmkms.store.base import Database, Repository, Store
from hsmkms.store.codec import Codec, Secret

__all__ = ["Codec", "Database", "Repository", "Secret", "Store"]
