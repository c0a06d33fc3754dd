"""Store, repositories and units of work (see the package docstring)."""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from hsmkms.store.codec import Codec

T = TypeVar("T")
_DELETED = object()

Row = tuple[str, str, str, str]  # kind, scope, id, json body

log = logging.getLogger(__name__)


class Database(Protocol):
    """What the store needs from a SQL database. Implementations: one per dialect."""

    def load(self, kind: str) -> Iterator[tuple[str, str, str]]:
        """Yield ``(scope, id, body)`` in insertion order."""
        ...

    def write(self, puts: list[Row], deletes: list[tuple[str, str, str]]) -> None:
        """Apply all puts and deletes in one transaction (durable once it returns)."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def init_meta(self, key: str, value: str) -> str:
        """Set ``key`` to ``value`` unless it is set already (atomically: of several nodes
        starting at once, one sets it); the value it then has."""
        ...

    def join(self) -> bool:
        """Count this process as a node serving the database, for as long as it is open; True
        if no other node serves it (this one is the first)."""
        ...

    # Append-only logs with tables of their own (the trail) use SQL directly: portable SQL
    # with ``?`` placeholders, which a dialect whose driver wants another style translates.

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement outside any transaction of the store; its rows."""
        ...

    def executemany(self, *batches: tuple[str, list[tuple[object, ...]]]) -> None:
        """For each ``(sql, rows)``, run the statement for every row; all in one transaction
        (durable once it returns)."""
        ...

    def indexed(self, table: str, index: str) -> str:
        """``table`` in a FROM clause, telling the planner to use ``index`` where the dialect
        can be told (SQLite: ``INDEXED BY``)."""
        ...

    def close(self) -> None: ...


class StoreRefused(Exception):
    """The database can't be served by this node (the message says why and what to do);
    nothing was changed."""


class SecretsUnreadable(StoreRefused):
    """The root key given does not unseal the secrets of this database (wrong key)."""


#: A known value sealed with the root key when the database is first opened.
_ROOT_KEY_CHECK = "root_key_check"
_CHECK_VALUE = b"hsmkms root key check v1"



class Store:
    def __init__(self, db: Database, codec: Codec) -> None:
        self.db = db
        self.codec = codec
        self._repos: dict[str, Repository[Any]] = {}
        self._staged: dict[tuple[str, str, str], object] | None = None
        self._depth = 0
        #: Run once the outermost unit of work has committed (see :meth:`after_commit`).
        self._after: list[Callable[[], None]] = []
        self._check_root_key()

    def _check_root_key(self) -> None:
        """Refuse a root key that is not the one this database's secrets were sealed with,
        before anything is read or written (nothing is lost; the right key opens it again)."""
        sealed = self.db.get_meta(_ROOT_KEY_CHECK)
        if sealed is None:  # a new database: the first node to get here seals the marker
            sealed = self.db.init_meta(_ROOT_KEY_CHECK, self.codec.seal(_CHECK_VALUE))
        try:
            ok = self.codec.unseal(sealed) == _CHECK_VALUE
        except Exception:  # noqa: BLE001 - any failure to unseal means the same thing
            ok = False
        if not ok:
            raise SecretsUnreadable(
                "the root key does not match the one this database's secrets were sealed with "
                "(check HSMKMS_ROOT_KEY or <data-dir>/root.key); nothing was changed")

    def repository(self, kind: str, cls: type[T]) -> Repository[T]:
        if kind in self._repos:
            return self._repos[kind]
        repo: Repository[T] = Repository(self, kind, cls)
        for scope, ident, body in self.db.load(kind):
            repo.cached(scope, ident, self.codec.load(cls, json.loads(body)))
        self._repos[kind] = repo
        return repo

    @property
    def in_unit_of_work(self) -> bool:
        """True while writes are staged (their fate is not decided yet)."""
        return self._depth > 0

    def unit_of_work(self) -> UnitOfWork:
        """Stage writes; commit them together when the outermost unit of work ends cleanly.

        A nested unit of work that fails drops only its own writes (like a savepoint).
        """
        return UnitOfWork(self)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the writes staged so far are committed: at the end of the outermost
        unit of work if it commits, never if the unit of work (or the nested one ``fn`` was
        registered in) is rolled back or its commit fails. Outside a unit of work, at once."""
        if self._depth == 0:
            fn()
        else:
            self._after.append(fn)

    # -- what repositories call -------------------------------------------------------------

    def stage(self, kind: str, scope: str, ident: str, value: object) -> None:
        """Write ``value`` (or :data:`_DELETED`) now, or at the commit of the unit of work."""
        if self._staged is None:
            self._commit({(kind, scope, ident): value})
        else:
            self._staged[(kind, scope, ident)] = value

    def staged_value(self, kind: str, scope: str, ident: str) -> object:
        if self._staged is None:
            return None
        return self._staged.get((kind, scope, ident))

    @property
    def staged(self) -> dict[tuple[str, str, str], object] | None:
        """The writes of the open unit of work, ``(kind, scope, id) -> value``; None outside."""
        return self._staged

    def _commit(self, staged: dict[tuple[str, str, str], object]) -> None:
        puts: list[Row] = []
        deletes: list[tuple[str, str, str]] = []
        for (kind, scope, ident), value in staged.items():
            if value is _DELETED:
                deletes.append((kind, scope, ident))
            else:
                puts.append((kind, scope, ident, json.dumps(self.codec.dump(value))))
        self.db.write(puts, deletes)
        for (kind, scope, ident), value in staged.items():
            self._repos[kind].cached(scope, ident, None if value is _DELETED else value)


class UnitOfWork:
    """``with store.unit_of_work():`` (a class, not a generator: every request enters one)."""

    __slots__ = ("_after", "_snapshot", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._snapshot: dict[tuple[str, str, str], object] | None = None
        self._after = 0

    def __enter__(self) -> None:
        store = self._store
        if store._staged is None:  # noqa: SLF001 - the store's own helper
            store._staged = {}  # noqa: SLF001
        self._snapshot = dict(store._staged) if store._depth else None  # noqa: SLF001
        self._after = len(store._after)  # noqa: SLF001
        store._depth += 1  # noqa: SLF001

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 _tb: object) -> None:
        store = self._store
        store._depth -= 1  # noqa: SLF001
        if exc_type is not None:
            store._staged = self._snapshot  # noqa: SLF001 - drop this unit's writes
            del store._after[self._after:]  # noqa: SLF001 - and what was to follow them
            return
        if store._depth == 0:  # noqa: SLF001
            staged, store._staged = store._staged, None  # noqa: SLF001
            after, store._after = store._after, []  # noqa: SLF001
            if staged:
                store._commit(staged)  # noqa: SLF001 - if this raises, ``after`` is dropped
            for fn in after:
                try:
                    fn()
                except Exception:  # the writes are committed: what follows them must not
                    # turn the request into a failure, nor keep the next callbacks from running
                    log.exception("after-commit callback %r failed", fn)


class Repository(Generic[T]):
    """Entities of one kind, by scope (``account/region``, or ``""`` for global ones) and id.

    Besides lookups by id, a repository keeps indexes of what is committed, kept up to date as
    commits land, so that a request costs the same with 20,000 entities as with 100:
    :meth:`ordered` (every entity of a scope, sorted by a position: a page of a listing is a
    bisect and a slice) and :meth:`ids_by` (the ids of a scope's entities sharing a value,
    e.g. the aliases of one key). A reader inside a unit of work sees its own staged changes."""

    def __init__(self, store: Store, kind: str, cls: type[T]) -> None:
        self._store = store
        self.kind = kind
        self.cls = cls
        self._cache: dict[str, dict[str, T]] = {}
        #: position function -> scope -> sorted ``(position, id)`` of the committed entities.
        self._orders: dict[Callable[[T], str], dict[str, list[tuple[str, str]]]] = {}
        #: value function -> scope -> value -> ids of the committed entities.
        self._groups: dict[Callable[[T], Hashable], dict[str, dict[Hashable, set[str]]]] = {}

    def cached(self, scope: str, ident: str, entity: T | None) -> None:
        """What the store has read or committed (``None``: deleted); for the store only."""
        old = self._cache.get(scope, {}).get(ident)
        if old is not None:
            self._unindex(scope, ident, old)
        if entity is None:
            self._cache.get(scope, {}).pop(ident, None)
        else:
            self._cache.setdefault(scope, {})[ident] = entity
            self._index(scope, ident, entity)

    def _index(self, scope: str, ident: str, entity: T) -> None:
        for position, by_scope in self._orders.items():
            if scope in by_scope:
                bisect.insort(by_scope[scope], (position(entity), ident))
        for value, groups in self._groups.items():
            if scope in groups:
                groups[scope].setdefault(value(entity), set()).add(ident)

    def _unindex(self, scope: str, ident: str, entity: T) -> None:
        for position, by_scope in self._orders.items():
            entries = by_scope.get(scope)
            if entries is not None:
                at = bisect.bisect_left(entries, (position(entity), ident))
                if at < len(entries) and entries[at] == (position(entity), ident):
                    del entries[at]
        for value, groups in self._groups.items():
            group = groups.get(scope, {})
            members = group.get(value(entity))
            if members is not None:
                members.discard(ident)
                if not members:  # no empty sets left behind by deleted entities
                    del group[value(entity)]

    def get(self, scope: str, ident: str) -> T | None:
        staged = self._store.staged_value(self.kind, scope, ident)
        if staged is _DELETED:
            return None
        if staged is not None:
            return staged  # type: ignore[return-value]  # staged values are T by construction
        return self._cache.get(scope, {}).get(ident)

    def put(self, scope: str, ident: str, entity: T) -> None:
        self._store.stage(self.kind, scope, ident, entity)

    def delete(self, scope: str, ident: str) -> None:
        self._store.stage(self.kind, scope, ident, _DELETED)

    def _staged_here(self, scope: str) -> dict[str, T | None]:
        """This unit of work's changes to the scope: ``id -> entity`` (None: deleted)."""
        staged = self._store.staged
        if not staged:
            return {}
        return {ident: None if value is _DELETED else value  # type: ignore[misc]
                for (kind, sc, ident), value in staged.items()
                if kind == self.kind and sc == scope}

    def items(self, scope: str) -> list[tuple[str, T]]:
        """All ``(id, entity)`` of a scope in creation order, staged changes included."""
        merged = dict(self._cache.get(scope, {}))
        for ident, value in self._staged_here(scope).items():
            if value is None:
                merged.pop(ident, None)
            else:
                merged[ident] = value
        return list(merged.items())

    def values(self, scope: str) -> list[T]:
        return [v for _, v in self.items(scope)]

    def count(self, scope: str) -> int:
        """How many entities the scope holds, staged changes included (without a copy of them
        all when nothing is staged)."""
        if not self._store.staged:
            return len(self._cache.get(scope, {}))
        return len(self.items(scope))

    def ordered(self, scope: str, position: Callable[[T], str]) -> Sequence[T]:
        """The scope's entities sorted by ``position(entity)`` (then id), as a sequence whose
        items are looked up when read: a slice of it costs the slice. ``position`` must be the
        same function object every time (it names the index) and depend only on the entity."""
        by_scope = self._orders.setdefault(position, {})
        if scope not in by_scope:
            by_scope[scope] = sorted((position(e), i) for i, e in
                                     self._cache.get(scope, {}).items())
        if self._staged_here(scope):  # this request changed some: sort what it sees
            entries = sorted((position(e), i) for i, e in self.items(scope))
            return _Ordered(self, scope, entries, snapshot=dict(self.items(scope)))
        return _Ordered(self, scope, by_scope[scope])

    def ids_by(self, scope: str, value: Callable[[T], Hashable], wanted: Hashable) -> set[str]:
        """The ids of the scope's entities with ``value(entity) == wanted`` (``value``: the same
        function object every time, as for :meth:`ordered`)."""
        groups = self._groups.setdefault(value, {})
        if scope not in groups:
            built: dict[Hashable, set[str]] = {}
            for ident, entity in self._cache.get(scope, {}).items():
                built.setdefault(value(entity), set()).add(ident)
            groups[scope] = built
        found = set(groups[scope].get(wanted, ()))
        for ident, changed in self._staged_here(scope).items():
            if changed is not None and value(changed) == wanted:
                found.add(ident)
            else:
                found.discard(ident)
        return found

    def scopes(self) -> list[str]:
        names = set(self._cache)
        if self._store.staged:
            names |= {sc for (k, sc, _), _v in self._store.staged.items() if k == self.kind}
        return sorted(names)


class _Ordered(Sequence[T]):
    """A sorted view of a repository's scope: ``(position, id)`` entries, entities read from the
    cache (or, inside a unit of work that changed the scope, from a snapshot) when asked."""

    def __init__(self, repo: Repository[T], scope: str, entries: list[tuple[str, str]],
                 snapshot: dict[str, T] | None = None) -> None:
        self._entries = entries
        self._by_id = snapshot if snapshot is not None else repo._cache.get(scope, {})  # noqa: SLF001
        #: Entities read so far (for tests: a page reads only its items).
        self.reads = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        """Equal to a list (or another view) of the same entities in the same order."""
        if not isinstance(other, (list, _Ordered)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __getitem__(self, index: int | slice) -> T | list[T]:  # type: ignore[override]
        if isinstance(index, slice):
            picked = self._entries[index]
            self.reads += len(picked)
            return [self._by_id[ident] for _pos, ident in picked]
        self.reads += 1
        return self._by_id[self._entries[index][1]]
