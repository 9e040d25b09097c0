"""The credential vault: per-user, per-app secrets, encrypted at rest in the context store.

``CredentialVault`` seals each credential with AES-256-GCM under a key given as 32 bytes or
derived from a passphrase with Scrypt, keeps only ciphertext and a non-secret index in a
:class:`~crs.store.ContextReferenceStore`, expires credentials on the crs clock, tracks access,
and rotates keys without ever leaving an entry unreadable.
"""

from __future__ import annotations

from crs.auth._vault import CredentialInfo, CredentialVault

__all__ = ["CredentialInfo", "CredentialVault"]
