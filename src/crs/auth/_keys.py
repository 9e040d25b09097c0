"""Key material for the credential vault: raw or Scrypt-derived keys, and AES-256-GCM sealing.

Why these choices:

* **AES-256-GCM** is an AEAD: one call encrypts *and* authenticates, so a flipped bit, a
  truncated record or a ciphertext moved to another slot fails loudly (``InvalidTag``) instead of
  decrypting to garbage. Each seal draws a fresh random 96-bit nonce; with at most a few million
  seals per key the chance of a nonce repeating stays far below 2⁻³², the bound NIST sets.
* **Associated data** binds a ciphertext to where it belongs (vault, user, app, expiry) without
  encrypting those fields: they stay readable in the index, but changing any of them, or moving
  the ciphertext, breaks the tag.
* **Scrypt** turns a passphrase into a key and is memory-hard, so guessing passphrases on GPUs is
  expensive. The default cost (n=2¹⁷, r=8, p=1, about 128 MiB and a few tenths of a second) is
  OWASP's current recommendation. The salt and the cost are stored with the vault (they are not
  secret), so the same passphrase reopens it even after the default changes.
* A **key-check record** (a constant sealed under the key at creation) lets the vault tell a wrong
  key from a damaged entry: the first fails the check when the vault opens, the second passes it
  and fails only on that entry.

Key bytes never leave :class:`VaultKey`: it keeps only the cipher object, and refuses to be
printed with its key or pickled.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crs.errors import ConfigError

__all__ = [
    "DEFAULT_SCRYPT_N",
    "InvalidTag",
    "KdfParams",
    "Sealed",
    "VaultKey",
    "check_scrypt_n",
    "entry_aad",
    "key_check_aad",
]

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
SALT_BYTES: Final = 16
DEFAULT_SCRYPT_N: Final = 2**17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
KEY_CHECK_PLAINTEXT: Final = b"crs.auth key check v1"
_AAD_ENTRY: Final = "crs.auth/entry/v1"
_AAD_KEY_CHECK: Final = "crs.auth/key-check/v1"


def check_scrypt_n(n: object) -> int:
    """Scrypt's cost must be a power of two above 1 (the algorithm indexes memory with it)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n & (n - 1):
        raise ConfigError(
            f"scrypt_n must be a power of two of at least 2, got {n!r}",
            hint=f"the default {DEFAULT_SCRYPT_N} (2**17) is OWASP's recommendation; tests can "
            "pass a small value such as 2**4 to stay fast",
        )
    return n


@dataclass(frozen=True, slots=True)
class KdfParams:
    """How a key was derived from a passphrase; kept in the vault's index (none of it is secret)."""

    salt: bytes
    n: int
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def fresh(cls, n: int) -> KdfParams:
        """New parameters with a random salt, so equal passphrases give different keys."""
        return cls(os.urandom(SALT_BYTES), check_scrypt_n(n))

    def derive(self, passphrase: str) -> bytes:
        # NFC first: the same passphrase typed on two systems may arrive composed or decomposed.
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        return Scrypt(salt=self.salt, length=KEY_BYTES, n=self.n, r=self.r, p=self.p).derive(secret)

    def to_json(self) -> dict[str, Any]:
        return {"name": "scrypt", "salt": _b64(self.salt), "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_json(cls, data: object) -> KdfParams:
        """Parse what :meth:`to_json` wrote; ``ValueError`` for anything else."""
        if not isinstance(data, dict) or data.get("name") != "scrypt":
            raise ValueError("unknown key-derivation record")
        n, r, p = (_positive_int(data.get(name)) for name in ("n", "r", "p"))
        return cls(unb64(data.get("salt")), check_scrypt_n(n), r, p)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One AES-GCM output: the nonce and the ciphertext with its 16-byte tag appended."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "nonce": _b64(self.nonce),
            "ciphertext": _b64(self.ciphertext),
        }

    @classmethod
    def from_json(cls, data: object) -> Sealed:
        """Parse what :meth:`to_json` wrote; ``ValueError`` for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("key_id"), str):
            raise ValueError("not a sealed record")
        nonce = unb64(data.get("nonce"))
        if len(nonce) != NONCE_BYTES:
            raise ValueError("nonce has the wrong length")
        return cls(data["key_id"], nonce, unb64(data.get("ciphertext")))

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, {len(self.ciphertext)} bytes)"


class VaultKey:
    """A 256-bit AES-GCM key and its public id; holds no key bytes an attribute could reveal.

    ``key_id`` is random, not derived from the key, so it says nothing about the key; it tags
    every record sealed under this key. ``kdf`` is set when the key came from a passphrase.
    """

    __slots__ = ("_aead", "kdf", "key_id")

    def __init__(self, raw: bytes, *, key_id: str | None = None, kdf: KdfParams | None = None):
        self._aead = AESGCM(raw)
        self.key_id = key_id or "key_" + secrets.token_hex(8)
        self.kdf = kdf

    @classmethod
    def from_material(
        cls,
        key: bytes | bytearray | memoryview | None,
        passphrase: str | None,
        *,
        kdf: KdfParams | None,
        key_id: str | None = None,
    ) -> VaultKey:
        """A key from exactly one of raw bytes or a passphrase (with ``kdf`` for the latter)."""
        if (key is None) == (passphrase is None):
            raise ConfigError(
                "pass exactly one of key= (32 random bytes) or passphrase=",
                hint="generate a key with CredentialVault.generate_key() and keep it in a "
                "secret manager, or use a long passphrase",
            )
        if key is not None:
            return cls(_check_key(key), key_id=key_id)
        if not isinstance(passphrase, str) or not passphrase:
            raise ConfigError(
                f"passphrase must be a non-empty str, got {type(passphrase).__name__}",
                hint="use a long, random passphrase (e.g. six or more diceware words)",
            )
        assert kdf is not None
        return cls(kdf.derive(passphrase), key_id=key_id, kdf=kdf)

    def relabelled(self, key_id: str, kdf: KdfParams | None) -> VaultKey:
        """The same key under another id (another vault object rotated to identical bytes)."""
        clone = object.__new__(VaultKey)
        clone._aead, clone.key_id, clone.kdf = self._aead, key_id, kdf
        return clone

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        return Sealed(self.key_id, nonce, self._aead.encrypt(nonce, plaintext, aad))

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        """The plaintext; raises :class:`InvalidTag` when anything (data, aad, key) differs."""
        return self._aead.decrypt(sealed.nonce, sealed.ciphertext, aad)

    def key_check(self, vault: str) -> Sealed:
        return self.seal(KEY_CHECK_PLAINTEXT, key_check_aad(vault, self.key_id))

    def verifies(self, check: Sealed, vault: str) -> bool:
        """Whether ``check`` was sealed by this very key (under this key id, for this vault)."""
        try:
            return self.open(check, key_check_aad(vault, check.key_id)) == KEY_CHECK_PLAINTEXT
        except InvalidTag:
            return False

    def __repr__(self) -> str:
        source = "raw" if self.kdf is None else "scrypt"
        return f"VaultKey(key_id={self.key_id!r}, source={source!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a VaultKey cannot be pickled: that would write the key out in clear")


def entry_aad(vault: str, user_id: str, app: str, expires_at: float) -> bytes:
    """Associated data of one credential: what the ciphertext is bound to.

    Binding the expiry means that editing it in the (unencrypted) index breaks the tag, so an
    attacker with write access to the store cannot extend a credential's life.
    """
    return _canonical([_AAD_ENTRY, vault, user_id, app, expires_at])


def key_check_aad(vault: str, key_id: str) -> bytes:
    return _canonical([_AAD_KEY_CHECK, vault, key_id])


def _canonical(parts: list[object]) -> bytes:
    # A JSON array cannot be confused across fields ("a|b" + "c" vs "a" + "b|c"), and
    # ensure_ascii keeps it independent of how text is normalised or encoded.
    return json.dumps(parts, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()


def _check_key(key: object) -> bytes:
    if isinstance(key, str):
        raise ConfigError(
            "key must be 32 raw bytes, got a str",
            hint="decode a stored key first (bytes.fromhex / base64.b64decode), or pass "
            "passphrase= to derive one",
        )
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ConfigError(f"key must be 32 raw bytes, got {type(key).__name__}")
    raw = bytes(key)
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"key must be exactly {KEY_BYTES} bytes (AES-256), got {len(raw)}",
            hint="generate one with CredentialVault.generate_key()",
        )
    return raw


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("scrypt parameters must be positive integers")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: object) -> bytes:
    """Strict base64 decoding; ``ValueError`` for anything that is not."""
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64") from exc
