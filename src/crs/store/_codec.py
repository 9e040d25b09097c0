"""Turning content into stored bytes and back, exactly.

The store promises ``retrieve(store(x)) == x``. That is only honest for a closed type model, so
this module defines it and enforces it:

* ``str`` — kept as UTF-8 with ``surrogatepass``, so *every* Python string (lone surrogates
  included) round-trips byte for byte. Text is never run through JSON.
* ``bytes`` — kept as is.
* JSON values — ``dict`` (``str`` keys), ``list``, ``str``, ``int``, ``float`` (finite), ``bool``,
  ``None``, nested freely. Encoded with the standard library's C encoder.

Anything else (tuples, sets, non-``str`` keys, NaN, nested ``bytes``, arbitrary objects) would come
back changed, so it is rejected with a :class:`~crs.errors.ContentTypeError` that names the type
and the JSONPath of the offending value. The check is cheap in the common case: encode with the C
encoder, decode, compare (all C code); only when that fails does a Python walk run to find *where*.

A *blob* is what the memory and disk tiers hold: one header byte (content kind in the high nibble,
codec in the low nibble), then for compressed blobs the raw length as 8 bytes little-endian, then
the payload. Compression is applied only when it pays: a blob is never larger than the raw bytes
plus its one header byte.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

import lz4.block

from crs._options import parse_choice
from crs.errors import ConfigError, ContentTypeError

__all__ = ["CompressionAlgorithm", "Encoded", "Kind", "decode", "digest_of", "encode", "raw_size"]


class Kind(IntEnum):
    """What a blob decodes to."""

    TEXT = 1
    BYTES = 2
    JSON = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class CompressionAlgorithm(StrEnum):
    """Codecs the store can compress with. ``zstd`` needs the ``zstd`` extra (``zstandard``)."""

    LZ4 = "lz4"
    ZSTD = "zstd"
    ZLIB = "zlib"
    NONE = "none"

    @classmethod
    def parse(cls, value: CompressionAlgorithm | str) -> CompressionAlgorithm:
        return parse_choice(
            cls,
            value,
            "compression_algorithm",
            hint="use 'lz4' (fast, the default) or 'none' to store raw bytes",
        )


_CODEC_IDS: Final = {
    CompressionAlgorithm.NONE: 0,
    CompressionAlgorithm.LZ4: 1,
    CompressionAlgorithm.ZLIB: 2,
    CompressionAlgorithm.ZSTD: 3,
}
_CODECS_BY_ID: Final = {v: k for k, v in _CODEC_IDS.items()}
_SIZE_BYTES: Final = 8
# Below this many bytes no codec can win back its own framing; don't spend time trying.
_MIN_COMPRESSIBLE: Final = 64
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_DECODE_JSON: Final = json.JSONDecoder().decode


class _Compressor:
    """One algorithm at one level, safe to share between threads."""

    def __init__(self, algorithm: CompressionAlgorithm, level: int | None) -> None:
        self.algorithm = algorithm
        self.level = level
        self.codec_id = _CODEC_IDS[algorithm]
        self._compress: Callable[[bytes], bytes]
        self._decompress: Callable[[bytes, int], bytes]
        if algorithm is CompressionAlgorithm.LZ4:
            self._setup_lz4(level)
        elif algorithm is CompressionAlgorithm.ZLIB:
            zlevel = 6 if level is None else level
            _check_level(algorithm, zlevel, -1, 9)
            self._compress = lambda raw: zlib.compress(raw, zlevel)
            self._decompress = lambda payload, _size: zlib.decompress(payload)
        elif algorithm is CompressionAlgorithm.ZSTD:
            self._setup_zstd(level)
        else:
            self._compress = lambda raw: raw
            self._decompress = lambda payload, _size: payload

    def _setup_lz4(self, level: int | None) -> None:
        if level is None or level == 0:
            self._compress = lambda raw: lz4.block.compress(raw, store_size=False)
        else:
            _check_level(CompressionAlgorithm.LZ4, level, 1, 16)
            self._compress = lambda raw: lz4.block.compress(
                raw, mode="high_compression", compression=level, store_size=False
            )
        self._decompress = lambda payload, size: lz4.block.decompress(
            payload, uncompressed_size=size
        )

    def _setup_zstd(self, level: int | None) -> None:
        try:
            import zstandard
        except ImportError:
            raise ConfigError(
                "compression_algorithm='zstd' needs the zstandard package",
                hint="pip install 'pytest-crs[zstd]', or use 'lz4'",
            ) from None
        zlevel = 3 if level is None else level
        _check_level(CompressionAlgorithm.ZSTD, zlevel, -7, 22)
        # zstandard's (de)compressor objects are not thread-safe: keep one per thread.
        local = threading.local()

        def compress(raw: bytes) -> bytes:
            comp = getattr(local, "c", None)
            if comp is None:
                comp = local.c = zstandard.ZstdCompressor(level=zlevel)
            data: bytes = comp.compress(raw)
            return data

        def decompress(payload: bytes, size: int) -> bytes:
            dec = getattr(local, "d", None)
            if dec is None:
                dec = local.d = zstandard.ZstdDecompressor()
            data: bytes = dec.decompress(payload, max_output_size=size)
            return data

        self._compress = compress
        self._decompress = decompress

    def pack(self, kind: Kind, raw: bytes) -> bytes:
        """The blob for ``raw``: compressed when that is smaller, else stored as is."""
        if self.codec_id and len(raw) >= _MIN_COMPRESSIBLE:
            payload = self._compress(raw)
            if len(payload) + _SIZE_BYTES < len(raw):
                header = bytes((kind << 4 | self.codec_id,))
                return header + len(raw).to_bytes(_SIZE_BYTES, "little") + payload
        return bytes((kind << 4,)) + raw

    def unpack_raw(self, blob: bytes) -> bytes:
        codec_id = blob[0] & 0x0F
        if codec_id == 0:
            return blob[1:]
        size = int.from_bytes(blob[1 : 1 + _SIZE_BYTES], "little")
        payload = blob[1 + _SIZE_BYTES :]
        if codec_id == self.codec_id:
            return self._decompress(payload, size)
        # A blob written under another algorithm (a disk tier reopened with new settings).
        return _compressor_for(_CODECS_BY_ID[codec_id]).unpack_raw(blob)


def _check_level(algorithm: CompressionAlgorithm, level: int, low: int, high: int) -> None:
    if not low <= level <= high:
        raise ConfigError(
            f"compression_level={level!r} is out of range for {algorithm.value} ({low}..{high})"
        )


_default_compressors: dict[CompressionAlgorithm, _Compressor] = {}


def _compressor_for(algorithm: CompressionAlgorithm) -> _Compressor:
    comp = _default_compressors.get(algorithm)
    if comp is None:
        comp = _default_compressors[algorithm] = _Compressor(algorithm, None)
    return comp


def make_compressor(algorithm: CompressionAlgorithm, level: int | None) -> _Compressor:
    return _Compressor(algorithm, level)


@dataclass(frozen=True, slots=True)
class Encoded:
    """Content serialised and packed, ready to be fingerprinted and indexed."""

    kind: Kind
    raw: bytes
    blob: bytes


def digest_of(kind: Kind, raw: bytes) -> bytes:
    """A 128-bit fingerprint of content; the kind is mixed in so ``"1"`` and ``b"1"`` differ."""
    return hashlib.blake2b(raw, digest_size=16, person=_PERSONS[kind]).digest()


_PERSONS: Final = {kind: b"crs-store-" + kind.name.encode() for kind in Kind}


def serialize(content: object) -> tuple[Kind, bytes]:
    """Content as (kind, raw bytes); raises :class:`ContentTypeError` for what can't round-trip."""
    if isinstance(content, str):
        return Kind.TEXT, content.encode("utf-8", "surrogatepass")
    if isinstance(content, bytes):
        return Kind.BYTES, bytes(content)
    if content is None or isinstance(content, (dict, list, int, float)):
        return Kind.JSON, _encode_json(content)
    raise _unsupported("$", content)


def json_field_problem(value: object) -> ContentTypeError | None:
    """Why ``value`` could not be kept exactly as a field of a stored JSON document, or ``None``.

    Records, checkpoints and cassettes embed values in JSON documents, where the top-level
    exceptions of :func:`serialize` (raw ``str`` / ``bytes`` content) do not apply.
    """
    try:
        serialize([value])
    except ContentTypeError as exc:
        return exc
    return None


def encode(content: object, compressor: _Compressor) -> Encoded:
    kind, raw = serialize(content)
    return Encoded(kind, raw, compressor.pack(kind, raw))


def _encode_json(value: object) -> bytes:
    try:
        text = _ENCODER.encode(value)
        faithful = _DECODE_JSON(text) == value
    except (TypeError, ValueError, RecursionError):
        faithful = False
    if not faithful:
        raise _find_unfaithful(value, "$", set())
    return text.encode("utf-8", "surrogatepass")


def kind_of(blob: bytes) -> Kind:
    return Kind(blob[0] >> 4)


def codec_of(blob: bytes) -> CompressionAlgorithm:
    return _CODECS_BY_ID[blob[0] & 0x0F]


def raw_size(blob: bytes) -> int:
    """Length of the raw bytes a blob holds, without decompressing it."""
    if blob[0] & 0x0F == 0:
        return len(blob) - 1
    return int.from_bytes(blob[1 : 1 + _SIZE_BYTES], "little")


def decode(blob: bytes, compressor: _Compressor) -> Any:
    """The content a blob holds, as a fresh object."""
    return materialize(kind_of(blob), compressor.unpack_raw(blob))


def materialize(kind: Kind, raw: bytes) -> Any:
    if kind is Kind.TEXT:
        return raw.decode("utf-8", "surrogatepass")
    if kind is Kind.BYTES:
        return raw
    return _DECODE_JSON(raw.decode("utf-8", "surrogatepass"))


# --- diagnosis: only runs after the fast check failed ---------------------------------------

_HINTS: Final = {
    "tuple": "convert it to a list; JSON has no tuples, so it would come back as a list",
    "set": "convert it to a sorted list",
    "frozenset": "convert it to a sorted list",
    "bytes": "store bytes on their own, or encode them (e.g. base64) inside JSON",
    "bytearray": "convert it with bytes(...)",
}


def _find_unfaithful(value: object, path: str, ancestors: set[int]) -> ContentTypeError:
    problem = _diagnose(value, path, ancestors)
    if problem is not None:
        return problem
    # The walk found nothing, yet the JSON round-trip disagreed (e.g. an object whose __eq__
    # lies). Refuse rather than store something that will not come back equal.
    return ContentTypeError(
        f"content of type {type(value).__name__} at {path} does not survive a JSON round-trip",
        path=path,
        type_name=type(value).__name__,
    )


def _diagnose(value: object, path: str, ancestors: set[int]) -> ContentTypeError | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return ContentTypeError(
            f"float {value!r} at {path} is not valid JSON",
            path=path,
            type_name="float",
            hint="JSON has no NaN or Infinity; store None or a string instead",
        )
    if isinstance(value, (dict, list)):
        if id(value) in ancestors:
            return ContentTypeError(
                f"circular reference at {path}",
                path=path,
                type_name=type(value).__name__,
                hint="a container holds itself; JSON can only represent trees",
            )
        ancestors.add(id(value))
        try:
            return _diagnose_container(value, path, ancestors)
        finally:
            ancestors.discard(id(value))
    return _unsupported(path, value)


def _diagnose_container(
    value: dict[Any, Any] | list[Any], path: str, ancestors: set[int]
) -> ContentTypeError | None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _diagnose(item, f"{path}[{index}]", ancestors)
            if problem is not None:
                return problem
        return None
    for key, item in value.items():
        if not isinstance(key, str):
            return ContentTypeError(
                f"dict key {key!r} ({type(key).__name__}) at {path} is not a string",
                path=path,
                type_name=type(key).__name__,
                hint="JSON object keys are strings; it would come back as a string",
            )
        problem = _diagnose(item, _child_path(path, key), ancestors)
        if problem is not None:
            return problem
    return None


def _child_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _unsupported(path: str, value: object) -> ContentTypeError:
    type_name = type(value).__name__
    return ContentTypeError(
        f"cannot store a {type_name} at {path}: it would not come back unchanged",
        path=path,
        type_name=type_name,
        hint=_HINTS.get(
            type_name,
            "store str, bytes, or JSON values (dict with str keys, list, str, int, finite "
            "float, bool, None)",
        ),
    )
