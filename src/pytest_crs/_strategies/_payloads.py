"""What agents send and receive: tool calls, chat completions, and credentials to keep secret."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from hypothesis import strategies as st

from crs.errors import ConfigError
from crs.tools._actions import looks_read_only
from pytest_crs._strategies._options import choose, positive_int
from pytest_crs.faults._targets import ToolCall

_KNOWN_SLUGS: Final = (
    "GITHUB_CREATE_AN_ISSUE",
    "GITHUB_GET_AN_ISSUE",
    "GITHUB_LIST_REPOSITORY_ISSUES",
    "GMAIL_FETCH_EMAILS",
    "GMAIL_SEND_EMAIL",
    "SLACK_FETCH_CONVERSATION_HISTORY",
    "SLACK_SEND_MESSAGE",
)
_APPS: Final = ("GITHUB", "SLACK", "GMAIL", "NOTION", "LINEAR", "GOOGLECALENDAR", "HUBSPOT")
_VERBS: Final = (
    "CREATE", "SEND", "UPDATE", "DELETE", "ADD", "POST", "GET", "LIST", "FETCH", "SEARCH",
)  # fmt: skip
_NOUNS: Final = (
    "ISSUE", "AN_ISSUE", "MESSAGE", "EMAIL", "PAGE", "EVENT", "COMMENT", "CONTACT", "DRAFT",
    "REPOSITORY_ISSUES", "CHANNEL_MEMBERS",
)  # fmt: skip
_USERS: Final = ("default", "user-1", "user-42", "alice@example.com", "entity_7f3a")


def _json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON values that round-trip exactly (no NaN, no lone surrogates, ints within 2**53)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(codec="utf-8"), max_size=20),
    )
    keys = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def tool_calls(
    *,
    slugs: Iterable[str] | None = None,
    apps: Iterable[str] | None = None,
    read_only: bool | None = None,
    user_ids: st.SearchStrategy[str | None] | None = None,
    max_arguments: int = 4,
) -> st.SearchStrategy[ToolCall]:
    """Tool executions as the fault plan sees them: ``APP_ACTION`` slugs and JSON arguments.

    Slugs are Composio's real ones (``GITHUB_CREATE_AN_ISSUE``, ``SLACK_SEND_MESSAGE``, ...) or
    built the same way; ``app`` is the slug's first word in lower case, as both Composio SDKs
    report it.

    Args:
        slugs: the slugs to choose from (default: real and made-up ``APP_VERB_NOUN`` ones).
        apps: keep only slugs of these apps (``"github"``, ``"SLACK"``).
        read_only: ``True`` for reads only (``GET``, ``LIST``, ``FETCH`` ...), ``False`` for
            side-effecting actions only, as the adapter and ``FaultPlan.duplicates`` judge them.
        user_ids: strategy of user ids (default: a few realistic ones, or ``None``).
        max_arguments: the most top-level arguments.
    """
    if slugs is not None:
        pool = [s.strip().upper() for s in slugs]
        if not pool or not all(s and "_" in s for s in pool):
            raise ConfigError(f"tool_calls(slugs=...) needs APP_ACTION slugs, got {slugs!r}")
        slug_source: st.SearchStrategy[str] = st.sampled_from(pool)
    else:
        made_up = st.builds(
            lambda app, verb, noun: f"{app}_{verb}_{noun}",
            st.sampled_from(_APPS),
            st.sampled_from(_VERBS),
            st.sampled_from(_NOUNS),
        )
        slug_source = st.sampled_from(_KNOWN_SLUGS) | made_up
    wanted_apps = None if apps is None else {a.strip().upper() for a in apps}

    def keep(slug: str) -> bool:
        app = slug.partition("_")[0]
        if wanted_apps is not None and app not in wanted_apps:
            return False
        return read_only is None or looks_read_only(app, slug) == read_only

    users = st.none() | st.sampled_from(_USERS) if user_ids is None else user_ids
    keys = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
    arguments = st.dictionaries(keys, _json_values(), max_size=max_arguments)
    return st.builds(
        lambda slug, args, user: ToolCall(
            slug=slug,
            app=slug.partition("_")[0].lower(),
            action=slug,
            arguments=args,
            user_id=user,
        ),
        slug_source.filter(keep),
        arguments,
        users,
    )


_MODELS: Final = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "gpt-5-mini")
_ALNUM: Final = string.ascii_letters + string.digits


def _ident(prefix: str, size: int) -> st.SearchStrategy[str]:
    return st.text(_ALNUM, min_size=size, max_size=size).map(lambda body: prefix + body)


def _tool_call_dicts() -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(_KNOWN_SLUGS) | st.from_regex(r"[a-z][a-z0-9_]{2,20}", fullmatch=True)
    arguments = st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True), _json_values(4), max_size=3
    )
    return st.builds(
        lambda call_id, name, args: {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        },
        _ident("call_", 24),
        names,
        arguments,
    )


def chat_completions(
    *,
    models: Iterable[str] | None = None,
    tool_calls: bool | None = None,
    max_choices: int = 2,
) -> st.SearchStrategy[dict[str, Any]]:
    """``chat.completion`` objects as OpenAI's API returns them (JSON dicts).

    Answers with text, refusals, truncated text (``finish_reason: "length"``) or tool calls,
    with usage counts that add up. ``openai.types.chat.ChatCompletion.model_validate`` accepts
    every one.

    Args:
        models: model names to choose from.
        tool_calls: ``True`` for tool-calling answers only, ``False`` for none, ``None`` either.
        max_choices: the most choices (``n``) per completion.
    """
    model_names = tuple(models) if models is not None else _MODELS
    if not model_names:
        raise ConfigError("chat_completions(models=...) is empty")
    choices_limit = positive_int(max_choices, "max_choices")
    texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=80)

    @st.composite
    def message(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
        calls = draw(st.booleans()) if tool_calls is None else tool_calls
        if calls:
            content = draw(st.none() | texts)
            body: dict[str, Any] = {
                "role": "assistant",
                "content": content,
                "refusal": None,
                "tool_calls": draw(st.lists(_tool_call_dicts(), min_size=1, max_size=3)),
            }
            return body, "tool_calls"
        shape = draw(st.sampled_from(("text", "text", "length", "refusal", "filtered")))
        if shape == "refusal":
            refusal = draw(texts)
            return {"role": "assistant", "content": None, "refusal": refusal}, "stop"
        if shape == "filtered":
            return {"role": "assistant", "content": None, "refusal": None}, "content_filter"
        reason = "length" if shape == "length" else "stop"
        return {"role": "assistant", "content": draw(texts), "refusal": None}, reason

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        count = draw(st.integers(1, choices_limit))
        choices = []
        for index in range(count):
            body, reason = draw(message())
            choices.append(
                {"index": index, "message": body, "logprobs": None, "finish_reason": reason}
            )
        prompt = draw(st.integers(1, 50_000))
        completion = draw(st.integers(0, 4_000))
        completion_data: dict[str, Any] = {
            "id": draw(_ident("chatcmpl-", 29)),
            "object": "chat.completion",
            "created": draw(st.integers(1_600_000_000, 1_900_000_000)),
            "model": draw(st.sampled_from(model_names)),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "system_fingerprint": draw(
                st.none() | st.text("0123456789abcdef", min_size=10, max_size=10).map("fp_".__add__)
            ),
        }
        if draw(st.booleans()):
            completion_data["service_tier"] = draw(st.sampled_from(("default", "auto", "flex")))
        return completion_data

    return build()


#: The credential shapes :func:`credentials` draws from.
CREDENTIAL_KINDS: Final = (
    "openai",
    "openai-project",
    "stripe-style",
    "composio",
    "github",
    "github-pat",
    "slack",
    "google",
    "aws",
    "jwt",
    "bearer",
)
_URLSAFE: Final = _ALNUM + "-_"


def _chars(alphabet: str, size: int, maximum: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=size if maximum is None else maximum)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwts() -> st.SearchStrategy[str]:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = st.builds(
        lambda sub, exp: _b64url(json.dumps({"sub": sub, "exp": exp}).encode()),
        st.from_regex(r"[a-z0-9_-]{1,16}", fullmatch=True),
        st.integers(1_600_000_000, 1_900_000_000),
    )
    return st.builds(
        lambda body, signature: f"{header}.{body}.{signature}", claims, _chars(_URLSAFE, 43)
    )


_CREDENTIALS: Final[Mapping[str, Callable[[], st.SearchStrategy[str]]]] = {
    "openai": lambda: _chars(_ALNUM, 48).map("sk-".__add__),
    "openai-project": lambda: _chars(_URLSAFE, 40, 100).map("sk-proj-".__add__),
    "stripe-style": lambda: st.builds(
        lambda kind, mode, body: f"{kind}_{mode}_{body}",
        st.sampled_from(("sk", "pk", "rk")),
        st.sampled_from(("test", "live")),
        _chars(_ALNUM, 24),
    ),
    "composio": lambda: st.builds(
        lambda prefix, body: prefix + body, st.sampled_from(("ak_", "uak_")), _chars(_ALNUM, 20)
    ),
    "github": lambda: st.builds(
        lambda kind, body: f"{kind}_{body}",
        st.sampled_from(("ghp", "gho", "ghu", "ghs", "ghr")),
        _chars(_ALNUM, 36),
    ),
    "github-pat": lambda: _chars(_ALNUM + "_", 82).map("github_pat_".__add__),
    "slack": lambda: st.builds(
        lambda kind, team, user, body: f"xox{kind}-{team}-{user}-{body}",
        st.sampled_from("abpr"),
        _chars(string.digits, 11),
        _chars(string.digits, 12),
        _chars(_ALNUM, 24),
    ),
    "google": lambda: _chars(_URLSAFE, 35).map("AIza".__add__),
    "aws": lambda: _chars(string.ascii_uppercase + string.digits, 16).map("AKIA".__add__),
    "jwt": _jwts,
    "bearer": lambda: _chars(_ALNUM + "._~+/-", 20, 60).map("Bearer ".__add__),
}


def credentials(kinds: Iterable[str] | None = None) -> st.SearchStrategy[str]:
    """Secrets in the shapes crs's redaction recognises wherever they appear.

    OpenAI keys (``sk-...``, ``sk-proj-...``), Stripe-style and Composio keys (``sk_live_...``,
    ``ak_...``), GitHub tokens (``ghp_...``, ``github_pat_...``), Slack tokens (``xoxb-...``),
    Google API keys (``AIza...``), AWS access key ids (``AKIA...``), JWTs and ``Bearer``
    authorization values. Put one into a request, an error or a tool result and assert it never
    shows up in a cassette, a log line or a ``repr``: ``redact_secrets`` removes each whole.

    Args:
        kinds: some of ``"openai"``, ``"openai-project"``, ``"stripe-style"``, ``"composio"``,
            ``"github"``, ``"github-pat"``, ``"slack"``, ``"google"``, ``"aws"``, ``"jwt"``,
            ``"bearer"`` (default: all).
    """
    chosen = choose(kinds, CREDENTIAL_KINDS, "kinds")
    return st.one_of([_CREDENTIALS[kind]() for kind in chosen])
