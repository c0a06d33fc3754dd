"""SM2 public-key encryption and SM2-curve ECDH, by OpenSSL 3's libcrypto through :mod:`ctypes`.

Why libcrypto: the GmSSL binding hsmkms signs with (:mod:`hsmkms.pkcrypto`) encrypts at most 255
bytes with SM2 (GmSSL's ``SM2_MAX_PLAINTEXT_SIZE``) where KMS allows 1024, and has no key
agreement; pyca/cryptography has nothing of SM2. OpenSSL 3's SM2 encryption (GB/T 32918.4 with
SM3, the DER ``C1C3C2`` ciphertext KMS returns and ``openssl pkeyutl -encrypt`` makes) takes any
length, and its ECDH takes any named curve. libcrypto is on nearly every machine, and Python's own
:mod:`ssl` links it.

OpenSSL 3's provider key managers keep the SM2 curve apart: a key on it is always of type SM2
(``EVP_PKEY_fromdata`` refuses an ``EC`` key on it, and an SM2 key has no key exchange), so the
ECDH goes through the EC_KEY API: ``ECDH_compute_key`` on an ``EC_KEY`` of the SM2 curve,
deprecated in 3.0 but part of every 3.x ABI. The peer's SubjectPublicKeyInfo is decoded and
checked by libcrypto (``d2i_PUBKEY``, ``EVP_PKEY_public_check``: on the curve, not the point at
infinity, of the group's order).

Rules kept in every call: each return code is checked; every object is freed in a ``finally``
(private scalars with ``BN_clear_free``, buffers that held secrets zeroed); the calling thread's
OpenSSL error queue is emptied before returning, as the :mod:`ssl` module shares it. Each call
builds its own objects, so calls are thread-safe (ctypes releases the GIL around them).

libcrypto is loaded at first use, not at import: without it (or with one older than 3.0) SM2
encryption and key agreement raise :class:`Unavailable`, and the rest of hsmkms works.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["FIELD_BYTES", "Sm2Error", "Unavailable", "decrypt", "derive", "encrypt",
           "open_libcrypto", "places"]

#: Bytes of an SM2 field element (and of the ECDH shared secret, the x-coordinate).
FIELD_BYTES = 32
#: An encoded SM2-curve point, uncompressed (the longest form).
_MAX_POINT = 1 + 2 * FIELD_BYTES

_BytesArray = ctypes.Array[ctypes.c_ubyte]
_P = ctypes.c_void_p
_INT = ctypes.c_int
_SIZE = ctypes.c_size_t
_BYTES = ctypes.POINTER(ctypes.c_ubyte)
#: Every libcrypto function used: name, result type, argument types (from OpenSSL 3's headers).
_SIGNATURES: tuple[tuple[str, Any, tuple[Any, ...]], ...] = (
    ("OpenSSL_version_num", ctypes.c_ulong, ()),
    ("ERR_get_error", ctypes.c_ulong, ()),
    ("ERR_error_string_n", None, (ctypes.c_ulong, ctypes.c_char_p, _SIZE)),
    ("ERR_clear_error", None, ()),
    ("OBJ_sn2nid", _INT, (ctypes.c_char_p,)),
    ("d2i_PUBKEY", _P, (_P, ctypes.POINTER(_P), ctypes.c_long)),
    ("d2i_AutoPrivateKey", _P, (_P, ctypes.POINTER(_P), ctypes.c_long)),
    ("EVP_PKEY_is_a", _INT, (_P, ctypes.c_char_p)),
    ("EVP_PKEY_get_octet_string_param", _INT,
     (_P, ctypes.c_char_p, _BYTES, _SIZE, ctypes.POINTER(_SIZE))),
    ("EVP_PKEY_free", None, (_P,)),
    ("EVP_PKEY_CTX_new_from_pkey", _P, (_P, _P, ctypes.c_char_p)),
    ("EVP_PKEY_CTX_free", None, (_P,)),
    ("EVP_PKEY_public_check", _INT, (_P,)),
    ("EVP_PKEY_encrypt_init", _INT, (_P,)),
    ("EVP_PKEY_encrypt", _INT, (_P, _BYTES, ctypes.POINTER(_SIZE), _BYTES, _SIZE)),
    ("EVP_PKEY_decrypt_init", _INT, (_P,)),
    ("EVP_PKEY_decrypt", _INT, (_P, _BYTES, ctypes.POINTER(_SIZE), _BYTES, _SIZE)),
    ("BN_bin2bn", _P, (_BYTES, _INT, _P)),
    ("BN_clear_free", None, (_P,)),
    ("EC_KEY_new_by_curve_name", _P, (_INT,)),
    ("EC_KEY_get0_group", _P, (_P,)),
    ("EC_KEY_set_private_key", _INT, (_P, _P)),
    ("EC_KEY_free", None, (_P,)),
    ("EC_POINT_new", _P, (_P,)),
    ("EC_POINT_oct2point", _INT, (_P, _P, _BYTES, _SIZE, _P)),
    ("EC_POINT_free", None, (_P,)),
    ("ECDH_compute_key", _INT, (_P, _SIZE, _P, _P, _P)),
)
#: libcrypto 3's usual file names.
_NAMES = {"win32": ("libcrypto-3-x64.dll", "libcrypto-3.dll"),
          "darwin": ("libcrypto.3.dylib",)}.get(sys.platform, ("libcrypto.so.3",))
_OPENSSL_3 = 0x3000_0000


class Unavailable(RuntimeError):
    """OpenSSL 3's libcrypto cannot be loaded: SM2 encryption and key agreement cannot run."""


class Sm2Error(ValueError):
    """libcrypto refused the input (a ciphertext that does not decrypt, a bad peer key)."""


# -- loading ------------------------------------------------------------------------------------

_lock = threading.Lock()
_loaded: list[ctypes.CDLL] = []


def _lib() -> ctypes.CDLL:
    """libcrypto with every function of :data:`_SIGNATURES` declared (loaded once)."""
    if _loaded:
        return _loaded[0]
    with _lock:
        if not _loaded:
            _loaded.append(open_libcrypto(places()))
    return _loaded[0]


def places() -> tuple[str, ...]:
    """Where libcrypto 3 is looked for: its usual file names, then the ``_ssl`` extension
    (looking symbols up in it finds the libcrypto Python's :mod:`ssl` was linked with)."""
    return (*_NAMES, *_ssl_module())


def open_libcrypto(names: tuple[str, ...]) -> ctypes.CDLL:
    """The first of ``names`` that is OpenSSL 3's libcrypto (every function hsmkms calls
    declared), or :class:`Unavailable` saying why each was not."""
    failures = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            _declare(lib)
        except (OSError, AttributeError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        if lib.OpenSSL_version_num() >= _OPENSSL_3:
            return lib
        failures.append(f"{name}: OpenSSL {lib.OpenSSL_version_num():#x} is older than 3.0")
    raise Unavailable("SM2 encryption and key agreement need OpenSSL 3's libcrypto, which "
                      "could not be loaded (" + "; ".join(failures) + ")")


def _ssl_module() -> tuple[str, ...]:
    try:
        import _ssl  # noqa: PLC0415 - only a fallback place to look, at first SM2 use
    except ImportError:
        return ()
    return (str(_ssl.__file__),) if getattr(_ssl, "__file__", None) else ()


def _declare(lib: ctypes.CDLL) -> None:
    for name, restype, argtypes in _SIGNATURES:
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


# -- the operations -----------------------------------------------------------------------------


def encrypt(spki: bytes, plaintext: bytes) -> bytes:
    """SM2 encryption (SM3) of ``plaintext`` under the DER SubjectPublicKeyInfo ``spki``: the
    DER ``C1C3C2`` ciphertext."""
    lib = _lib()
    with _errors(lib), _pkey(lib, lib.d2i_PUBKEY, spki) as key, _ctx(lib, key) as ctx:
        _check(lib, lib.EVP_PKEY_encrypt_init(ctx), "EVP_PKEY_encrypt_init")
        return _run(lib, lib.EVP_PKEY_encrypt, ctx, plaintext, "EVP_PKEY_encrypt")


def decrypt(pkcs8: bytes, ciphertext: bytes) -> bytes:
    """The plaintext of a DER ``C1C3C2`` ciphertext under the DER PKCS #8 SM2 key ``pkcs8``;
    :class:`Sm2Error` if it does not decrypt (malformed, or its SM3 check value differs)."""
    lib = _lib()
    with _errors(lib), _pkey(lib, lib.d2i_AutoPrivateKey, pkcs8) as key, _ctx(lib, key) as ctx:
        _check(lib, lib.EVP_PKEY_decrypt_init(ctx), "EVP_PKEY_decrypt_init")
        return _run(lib, lib.EVP_PKEY_decrypt, ctx, ciphertext, "EVP_PKEY_decrypt")


def derive(private: bytes, peer_spki: bytes) -> bytes:
    """ECDH on the SM2 curve: the x-coordinate (32 bytes, big-endian) of ``private`` (the
    32-byte scalar) times the peer's point; :class:`Sm2Error` if ``peer_spki`` is not a valid
    DER SubjectPublicKeyInfo of an SM2-curve point."""
    lib = _lib()
    with _errors(lib):
        point = _peer_point(lib, peer_spki)
        with _ec_key(lib, private) as key:
            group = lib.EC_KEY_get0_group(key)
            peer = _check_ptr(lib, lib.EC_POINT_new(group), "EC_POINT_new")
            out = (ctypes.c_ubyte * FIELD_BYTES)()
            try:
                _check(lib, lib.EC_POINT_oct2point(group, peer, point, len(point), None),
                       "EC_POINT_oct2point")
                size = lib.ECDH_compute_key(out, FIELD_BYTES, peer, key, None)
                if size != FIELD_BYTES:
                    raise _failure(lib, "ECDH_compute_key")
                return bytes(out)
            finally:
                ctypes.memset(out, 0, FIELD_BYTES)
                lib.EC_POINT_free(peer)


# -- helpers (each frees what it made) ----------------------------------------------------------


def _peer_point(lib: ctypes.CDLL, spki: bytes) -> _BytesArray:
    """The encoded point of a valid SM2-curve public key, checked by libcrypto."""
    with _pkey(lib, lib.d2i_PUBKEY, spki) as key:
        if lib.EVP_PKEY_is_a(key, b"SM2") != 1:
            raise Sm2Error("not a public key on the SM2 curve")
        with _ctx(lib, key) as ctx:
            _check(lib, lib.EVP_PKEY_public_check(ctx), "EVP_PKEY_public_check")
        point = (ctypes.c_ubyte * _MAX_POINT)()
        size = _SIZE(0)
        _check(lib, lib.EVP_PKEY_get_octet_string_param(
            key, b"encoded-pub-key", point, _MAX_POINT, ctypes.byref(size)),
            "EVP_PKEY_get_octet_string_param")
        return (ctypes.c_ubyte * size.value).from_buffer_copy(bytes(point)[:size.value])


@contextmanager
def _errors(lib: ctypes.CDLL) -> Iterator[None]:
    """Leave this thread's OpenSSL error queue empty, whatever happened."""
    try:
        yield
    finally:
        lib.ERR_clear_error()


@contextmanager
def _pkey(lib: ctypes.CDLL, d2i: Callable[..., Any], der: bytes) -> Iterator[int]:
    """The EVP_PKEY that ``d2i`` decodes from all of ``der``."""
    data = _array(der)
    cursor = _P(ctypes.addressof(data))
    key = d2i(None, ctypes.byref(cursor), len(der))
    if not key:
        raise _failure(lib, d2i.__name__)
    try:
        if cursor.value != ctypes.addressof(data) + len(der):
            raise Sm2Error("trailing bytes after the DER key")
        yield key
    finally:
        lib.EVP_PKEY_free(key)


@contextmanager
def _ctx(lib: ctypes.CDLL, key: int) -> Iterator[int]:
    ctx = _check_ptr(lib, lib.EVP_PKEY_CTX_new_from_pkey(None, key, None),
                     "EVP_PKEY_CTX_new_from_pkey")
    try:
        yield ctx
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


@contextmanager
def _ec_key(lib: ctypes.CDLL, private: bytes) -> Iterator[int]:
    """An EC_KEY of the SM2 curve holding the private scalar ``private``."""
    nid = lib.OBJ_sn2nid(b"SM2")
    key = _check_ptr(lib, lib.EC_KEY_new_by_curve_name(nid), "EC_KEY_new_by_curve_name")
    scalar = _array(private)
    bn = lib.BN_bin2bn(scalar, len(private), None)
    ctypes.memset(scalar, 0, len(private))
    try:
        _check_ptr(lib, bn, "BN_bin2bn")
        _check(lib, lib.EC_KEY_set_private_key(key, bn), "EC_KEY_set_private_key")
        yield key
    finally:
        lib.BN_clear_free(bn)  # NULL is allowed
        lib.EC_KEY_free(key)  # clears its copy of the scalar


def _run(lib: ctypes.CDLL, function: Callable[..., int], ctx: int, data: bytes,
         name: str) -> bytes:
    """An EVP_PKEY_encrypt/decrypt call: ask the output size, then fill a buffer that long."""
    source = _array(data)
    size = _SIZE(0)
    _check(lib, function(ctx, None, ctypes.byref(size), source, len(data)), name)
    out = (ctypes.c_ubyte * size.value)()
    try:
        _check(lib, function(ctx, out, ctypes.byref(size), source, len(data)), name)
        return bytes(out)[:size.value]
    finally:
        ctypes.memset(out, 0, len(out))  # it may hold a plaintext
        ctypes.memset(source, 0, len(data))


def _array(data: bytes) -> _BytesArray:
    return (ctypes.c_ubyte * max(len(data), 1)).from_buffer_copy(data.ljust(1, b"\0"))


def _check(lib: ctypes.CDLL, result: int, name: str) -> None:
    if result != 1:
        raise _failure(lib, name)


def _check_ptr(lib: ctypes.CDLL, pointer: int | None, name: str) -> int:
    if not pointer:
        raise _failure(lib, name)
    return pointer


def _failure(lib: ctypes.CDLL, name: str) -> Sm2Error:
    """The error for a failed libcrypto call, with OpenSSL's first queued reason."""
    code = lib.ERR_get_error()
    text = ctypes.create_string_buffer(256)
    lib.ERR_error_string_n(code, text, len(text))
    return Sm2Error(f"{name} failed: {text.value.decode(errors='replace')}")
