"""A loopback server that speaks the OpenAI and Composio HTTP APIs, for offline agents.

Real SDK clients (``openai``, composio-core, ``composio``) point their base URL at it and run
unchanged: no credentials, no network, deterministic answers, and failures on demand. Needs the
``sandbox`` extra (``pip install 'pytest-crs[sandbox]'``).
"""

from __future__ import annotations

from crs.sandbox._composio_world import ComposioWorld
from crs.sandbox._faults import FaultKind, FaultRule
from crs.sandbox._model import AssistantTurn, Conversation, Message, ToolCall, ToolSpec
from crs.sandbox._server import DEFAULT_API_KEY, SESSION_HEADER, Sandbox
from crs.sandbox._state import RecordedRequest

__all__ = [
    "DEFAULT_API_KEY",
    "SESSION_HEADER",
    "AssistantTurn",
    "ComposioWorld",
    "Conversation",
    "FaultKind",
    "FaultRule",
    "Message",
    "RecordedRequest",
    "Sandbox",
    "ToolCall",
    "ToolSpec",
]
