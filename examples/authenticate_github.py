"""Authenticate a user's GitHub once, then let the agent act for them until the credential ends.

Credentials go into an encrypted vault (AES-256-GCM, key derived from a passphrase with Scrypt)
inside the Context Reference Store; the adapter refuses to run an action for a user whose
credential is missing, expired or revoked — before anything is sent.

Runs offline against the crs sandbox: ``python examples/authenticate_github.py``.
"""

from __future__ import annotations

from crs import ContextReferenceStore, CredentialVault
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter

REPO = {"owner": "acme", "repo": "web-app"}


def main() -> None:
    with Sandbox() as sandbox, ContextReferenceStore() as store:
        # In production the passphrase comes from a secret manager, never from source code.
        vault = CredentialVault(store, passphrase="correct horse battery staple")
        adapter = ComposioAdapter(store, sandbox.tool_backend(), vault=vault)

        auth_id = adapter.store_app_auth_context(
            "github", "default", {"token": "ghp_example_token"}, ttl_hours=24
        )
        info = vault.access_info("default", "github")
        lifetime = info.expires_at - info.created_at
        print(f"stored GitHub credential {auth_id} (expires in {lifetime:.0f}s)")
        entry = store.retrieve(info.ref)
        print(f"the store holds only ciphertext: {entry['format']}, {sorted(entry)}")

        listed = adapter.execute_tool_with_context(
            "github", "list_repository_issues", REPO, "default", auth_context_id=auth_id
        )
        print(f"listed issues with the credential: success={listed.successful}")

        adapter.revoke_auth_context("github", "default")
        refused = adapter.execute_tool_with_context(
            "github", "list_repository_issues", REPO, "default"
        )
        print(f"after revoking: success={refused.successful} ({refused.error_type})")
        sandbox.close_clients()


if __name__ == "__main__":
    main()
