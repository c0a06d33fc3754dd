"""The bench's suggestions for src/, as run-time patches, to measure them before anyone edits src/.

Each entry of :data:`SUGGESTIONS` names the file and function to change and applies an
equivalent change to the loaded modules (same answers on the wire; only faster). They are used
by ``bench/hotspots.py --suggest`` (``App.handle`` per call, one suggestion at a time and all
together) and by ``bench/variants.py`` (variant ``hsmkms+suggested``: a real server with all of
them). Nothing here is imported by hsmkms itself.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def fast_uuid4() -> str:
    """``str(uuid.uuid4())`` without building a ``uuid.UUID``: 16 random bytes, version 4
    and the RFC 4122 variant bits set, formatted 8-4-4-4-12."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def uuid_str(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw))`` without the ``UUID`` object."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _UuidShim:
    """Stands in for the ``uuid`` module inside ``hsmkms.app`` (``str(uuid.uuid4())``)."""

    uuid4 = staticmethod(fast_uuid4)


def request_id() -> None:
    """app.py ``App.context``: ``str(uuid.uuid4())`` -> a formatter over ``os.urandom(16)``."""
    import hsmkms.app

    hsmkms.app.uuid = _UuidShim  # type: ignore[assignment]


def compact_json() -> None:
    """protocol/awsjson.py ``JsonService.serialize``: ``json.dumps(..., separators=...)`` builds
    a new ``JSONEncoder`` per call; keep one module-level encoder and call its ``encode``."""
    from hsmkms.protocol import awsjson

    encoder = json.JSONEncoder(separators=(",", ":"))
    encode = awsjson._encode

    def serialize(self: Any, op: Any, result: dict[str, Any]) -> bytes:  # noqa: ARG001
        if op.output is None:
            return b"{}"
        return encoder.encode(encode(op.output, result)).encode()

    awsjson.JsonService.serialize = serialize  # type: ignore[method-assign]


def blob_header() -> None:
    """crypto.py: ``KeyCipher.encrypt`` builds the header with ``uuid.UUID(key_id).bytes`` and
    ``parse_header`` with ``str(uuid.UUID(bytes=...))``; use ``bytes.fromhex`` / ``.hex()``.
    ``KeyCipher.decrypt`` parses the header a second time (``Crypto.decrypt`` already did):
    check only the length and version there."""
    from hsmkms import crypto

    version = bytes([crypto.BLOB_VERSION])

    def parse_header(blob: bytes) -> crypto.BlobHeader:
        if len(blob) < crypto.OVERHEAD or blob[0] != crypto.BLOB_VERSION:
            raise crypto.CryptoError("not a hsmkms ciphertext blob")
        return crypto.BlobHeader(blob[0], uuid_str(blob[1:crypto.HEADER_LEN]))

    def encrypt(self: Any, key_id: str, plaintext: bytes, context: dict[str, str] | None,
                nonce: bytes | None = None) -> bytes:
        header = version + bytes.fromhex(key_id.replace("-", ""))
        nonce = nonce if nonce is not None else os.urandom(crypto.NONCE_LEN)
        sealed = self._aead.encrypt(nonce, plaintext, header + crypto.encode_context(context))
        return header + nonce + sealed

    def decrypt(self: Any, blob: bytes, context: dict[str, str] | None) -> bytes:
        if len(blob) < crypto.OVERHEAD or blob[0] != crypto.BLOB_VERSION:
            raise crypto.CryptoError("not a hsmkms ciphertext blob")
        start = crypto.HEADER_LEN + crypto.NONCE_LEN
        try:
            return self._aead.decrypt(blob[crypto.HEADER_LEN:start], blob[start:],
                                      blob[:crypto.HEADER_LEN] + crypto.encode_context(context))
        except crypto.InvalidTag as exc:
            raise crypto.CryptoError("authentication failed") from exc

    crypto.parse_header = parse_header
    crypto.KeyCipher.encrypt = encrypt  # type: ignore[method-assign]
    crypto.KeyCipher.decrypt = decrypt  # type: ignore[method-assign]


def resolve_fast_path() -> None:
    """kms/keys.py ``Keys.resolve``: look the id up first (a stored key id is a valid UUID);
    run the alias/ARN/UUID regexes only when that misses."""
    from hsmkms.kms import keys

    slow = keys.Keys.resolve

    def resolve(self: Any, who: Any, key_id: str, *, aliases: bool) -> Any:
        key = self.keys.get(who.scope, key_id)
        if key is not None:
            return key
        return slow(self, who, key_id, aliases=aliases)

    keys.Keys.resolve = resolve  # type: ignore[method-assign]


def trail_event_id() -> None:
    """trail/service.py ``Trail._finish`` / ``record_service_event``: the same cheaper
    ``uuid4`` string for every CloudTrail event id."""
    from hsmkms.trail import service

    service.uuid = _UuidShim  # type: ignore[assignment]


#: Events per small flush (about 1.5-3 ms of work: short enough not to show in p99).
TRAIL_SLICE = 32


def trail_small_flushes() -> None:
    """server.py ``AsgiApp.__call__`` + trail/service.py ``Trail``: flush the trail in small
    slices right after a response is sent (when ``TRAIL_SLICE`` events wait) instead of
    512-event / one-second batches inside the 50 ms tick, which stall every request for tens
    of milliseconds while they are built and inserted."""
    from hsmkms import server

    call = server.AsgiApp.__call__

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:  # noqa: N807
        await call(self, scope, receive, send)
        trail = getattr(self.app, "trail", None)
        if trail is not None and len(trail._buffer) >= TRAIL_SLICE:
            with self.app.lock:
                trail.flush()

    server.AsgiApp.__call__ = __call__  # type: ignore[method-assign]


#: Seconds between two checkpoints of the write-ahead log by the checkpoint thread.
CHECKPOINT_EVERY = 1.0


def wal_checkpoint_thread() -> None:
    """store/sqlite.py ``SqliteDatabase``: SQLite checkpoints the WAL itself (every ~1000
    pages) inside whichever COMMIT crosses the limit, and with ``synchronous=NORMAL`` that
    checkpoint fsyncs: a 10-17 ms stall of the event loop, several times a second under load
    (the trail writes a lot). Turn the automatic checkpoint off on the writing connection and
    checkpoint from a daemon thread with its own connection (``sqlite3`` releases the GIL while
    SQLite works, so the fsync no longer blocks requests); checkpoint once more on close."""
    import sqlite3
    import threading

    from hsmkms.store import sqlite as store_sqlite

    init = store_sqlite.SqliteDatabase.__init__

    def __init__(self: Any, path: Any) -> None:  # noqa: N807
        init(self, path)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()

        def checkpoint_forever() -> None:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            while not stop.wait(CHECKPOINT_EVERY):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()

        threading.Thread(target=checkpoint_forever, name="hsmkms-checkpoint",
                         daemon=True).start()
        self._stop_checkpoints = stop

    store_sqlite.SqliteDatabase.__init__ = __init__  # type: ignore[method-assign]


SUGGESTIONS: dict[str, Callable[[], None]] = {
    "request_id": request_id,
    "compact_json": compact_json,
    "blob_header": blob_header,
    "resolve_fast_path": resolve_fast_path,
    "trail_event_id": trail_event_id,
    "trail_small_flushes": trail_small_flushes,
    "wal_checkpoint_thread": wal_checkpoint_thread,
}


def apply_all() -> None:
    for patch in SUGGESTIONS.values():
        patch()
