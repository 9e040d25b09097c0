"""Choosing which app serves an intent: a pure, deterministic scorer the adapter feeds with data.

The score is the integration guide's four-part blend, kept because each part answers a different
question and stays explainable on its own: *intent* (does the request talk about what this app
does? the share of the intent's content words that the app's keywords or categories cover),
*performance* (does it work? success rate discounted by latency, 5 s counting as useless),
*preference* (does this user reach for it? saturating at ten uses) and *availability* (can it run
now? off when configured so or when its circuit breaker is open). Components are each in [0, 1]
and the blend is divided by the sum of the weights, so a confidence is always in [0, 1] whatever
weights a user picks. Matching is word-based, not substring-based ("cod" never matches "code"),
forgives simple plurals, and ignores stop words so "send a message" is judged on "send message".
Nothing here reads a clock or does I/O: the same inputs always pick the same tool, ties included.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from crs.errors import ConfigError

__all__ = [
    "AppPerformance",
    "SelectionWeights",
    "ToolConfig",
    "ToolScore",
    "ToolSelection",
    "ToolSelector",
]

_WORD = re.compile(r"[^\W_]+")
_STOP_TEXT = """
    a about an and any are as at be been but by can could do does for from have i if in into is it
    its let me my need of on or our please should so some that the their them then there these this
    those to up us via want was we what when where which will with would you your
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_FIELDS = ("keywords", "categories", "available", "description")
_CATEGORY_HINT_BOOST = 0.5
_PRIOR_SUCCESS_RATE = 0.5
_PRIOR_LATENCY_MS = 1000.0
_USELESS_LATENCY_MS = 5000.0
_SATURATING_USES = 10
_Phrase = tuple[frozenset[str], ...]


def _forms(word: str) -> frozenset[str]:
    """``word`` and the singulars it may be a plural of (issues → issue, replies → reply)."""
    forms = {word}
    if len(word) > 3 and word.endswith("s"):
        forms.add(word[:-1])
        if word.endswith("es"):
            forms.add(word[:-2])
        if word.endswith("ies"):
            forms.add(word[:-3] + "y")
    return frozenset(forms)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _phrase(text: str) -> _Phrase:
    return tuple(_forms(word) for word in _words(text))


def _same(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a.isdisjoint(b)


def _finite(value: object, minimum: float = 0.0, maximum: float = math.inf) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and minimum <= value <= maximum
    )


def _strings(tool: str, name: str, value: object) -> tuple[str, ...]:
    """A list/tuple of words or phrases that can match something (not only stop words)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"tool {tool!r}: field {name!r} must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not set(_words(item)) - _STOP_WORDS:
            raise ConfigError(
                f"tool {tool!r}: field {name!r} has {item!r}, which can never match an intent",
                hint="use words or phrases of letters and digits, not only stop words",
            )
    return tuple(value)


@dataclass(frozen=True)
class ToolConfig:
    """What the selector knows about one app; ``keywords`` and ``categories`` are matched."""

    name: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    available: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a tool name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "keywords", _strings(self.name, "keywords", self.keywords))
        object.__setattr__(self, "categories", _strings(self.name, "categories", self.categories))
        for key, kind in (("available", bool), ("description", str)):
            value = getattr(self, key)
            if not isinstance(value, kind):
                raise ConfigError(
                    f"tool {self.name!r}: field {key!r} must be a {kind.__name__}, got {value!r}"
                )

    @classmethod
    def parse(cls, name: str, mapping: Mapping[str, Any]) -> ToolConfig:
        """Read the integration guide's shape ``{"keywords": [...], "available": True, ...}``."""
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"tool {name!r}: configuration must be a mapping, got {mapping!r}")
        for key, value in mapping.items():
            if key not in _FIELDS:
                raise ConfigError(
                    f"tool {name!r}: unknown field {key!r} (value {value!r})",
                    hint=f"known fields: {', '.join(_FIELDS)}",
                )
        return cls(
            name,
            keywords=mapping.get("keywords", ()),
            categories=mapping.get("categories", ()),
            available=mapping.get("available", True),
            description=mapping.get("description", ""),
        )


@dataclass(frozen=True)
class SelectionWeights:
    """How much each component counts; only their ratios matter (the blend is normalised)."""

    intent: float = 0.4
    performance: float = 0.3
    preference: float = 0.2
    availability: float = 0.1

    def __post_init__(self) -> None:
        for key in ("intent", "performance", "preference", "availability"):
            value = getattr(self, key)
            if not _finite(value):
                raise ConfigError(f"weight {key}={value!r} must be a finite number >= 0")
        total = self.intent + self.performance + self.preference + self.availability
        if not (0 < total < math.inf):
            raise ConfigError(
                f"the weights must add up to a finite number above 0, got {total!r}",
                hint="give at least one component a positive weight",
            )


@dataclass(frozen=True)
class AppPerformance:
    """One app's execution record: how often it ran, how often it worked, how fast."""

    executions: int
    success_rate: float
    avg_latency_ms: float

    def __post_init__(self) -> None:
        if isinstance(self.executions, bool) or not isinstance(self.executions, int):
            raise ConfigError(f"executions must be an int, got {self.executions!r}")
        for key, high in (
            ("executions", math.inf),
            ("success_rate", 1),
            ("avg_latency_ms", math.inf),
        ):
            if not _finite(getattr(self, key), 0, high):
                bound = "in [0, 1]" if high == 1 else "finite and >= 0"
                raise ConfigError(f"{key} must be {bound}, got {getattr(self, key)!r}")


@dataclass(frozen=True)
class ToolScore:
    """One app's total and the components behind it (each in [0, 1]), to explain a choice."""

    name: str
    total: float
    intent: float
    performance: float
    preference: float
    availability: float


@dataclass(frozen=True)
class ToolSelection:
    """The chosen app, its confidence, the next two, and every app's score (best first)."""

    selected_tool: str
    confidence_score: float
    alternative_tools: tuple[tuple[str, float], ...]
    scores: Mapping[str, ToolScore] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The integration guide's shape: selected_tool, confidence_score, alternative_tools."""
        return {
            "selected_tool": self.selected_tool,
            "confidence_score": self.confidence_score,
            "alternative_tools": [[name, score] for name, score in self.alternative_tools],
        }


def _hints(context: Mapping[str, Any], key: str) -> list[str]:
    value = context.get(key, ())
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise ConfigError(f"context[{key!r}] must be a string or strings, got {value!r}")
    items = list(items)
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"context[{key!r}] must be a string or strings, got {value!r}")
    return items


def _covered(segments: list[list[str]], phrases: list[_Phrase]) -> set[str]:
    """The content words of ``segments`` that some phrase covers, matched word by word."""
    matched: set[str] = set()
    for words in segments:
        forms = [_forms(word) for word in words]
        for phrase in phrases:
            for start in range(len(words) - len(phrase) + 1):
                if all(_same(forms[start + i], part) for i, part in enumerate(phrase)):
                    matched.update(words[start : start + len(phrase)])
    return matched - _STOP_WORDS


def _performance(record: AppPerformance | None) -> float:
    if record is None or record.executions == 0:
        success, latency = _PRIOR_SUCCESS_RATE, _PRIOR_LATENCY_MS
    else:
        success, latency = record.success_rate, record.avg_latency_ms
    return success * (1 - min(latency / _USELESS_LATENCY_MS, 1.0))


class ToolSelector:
    """Scores registered apps against an intent; registration is safe across threads."""

    def __init__(self, weights: SelectionWeights | None = None) -> None:
        if weights is not None and not isinstance(weights, SelectionWeights):
            raise ConfigError(f"weights must be a SelectionWeights, got {weights!r}")
        self._weights = weights or SelectionWeights()
        self._tools: dict[str, ToolConfig] = {}
        self._lock = threading.Lock()

    @property
    def weights(self) -> SelectionWeights:
        return self._weights

    @property
    def tools(self) -> Mapping[str, ToolConfig]:
        """A read-only snapshot of the registered apps."""
        with self._lock:
            return MappingProxyType(dict(self._tools))

    def register_tools(self, config: Mapping[str, ToolConfig | Mapping[str, Any]]) -> None:
        """Add apps (all or none: each is checked first); an existing name is replaced."""
        parsed: dict[str, ToolConfig] = {}
        for name, entry in config.items():
            tool = entry if isinstance(entry, ToolConfig) else ToolConfig.parse(name, entry)
            if tool.name != name:
                raise ConfigError(f"tool {tool.name!r} is registered under the name {name!r}")
            parsed[name] = tool
        with self._lock:
            self._tools.update(parsed)

    def unregister(self, name: str) -> None:
        with self._lock:
            if self._tools.pop(name, None) is None:
                known = ", ".join(sorted(self._tools)) or "none"
                raise ConfigError(f"no tool {name!r} is registered", hint=f"registered: {known}")

    def select(
        self,
        intent: str,
        *,
        performance: Mapping[str, AppPerformance] = MappingProxyType({}),
        usage: Mapping[str, int] = MappingProxyType({}),
        unavailable: Collection[str] = (),
        context: Mapping[str, Any] | None = None,
    ) -> ToolSelection:
        """Score every registered app for ``intent`` and pick the best.

        ``performance`` and ``usage`` (this user's executions per app) are keyed by app; absent
        apps get the priors (50% success at 1000 ms) and no preference. ``unavailable`` apps
        (open circuits) score 0 on availability; they are ranked, not filtered. ``context``:
        ``"keywords"`` (a string or strings) adds words to the intent, each string as its own
        phrase, counted like intent words; ``"category"``/``"categories"`` (a string or strings)
        raise the intent score of apps in a named category by 0.5 (capped at 1), never lowering
        any other app; every other key is ignored. Ties go to the higher intent score, then to
        the alphabetically first name.
        """
        if not isinstance(intent, str) or not _words(intent):
            raise ConfigError(f"intent must be text with at least one word, got {intent!r}")
        with self._lock:
            tools = sorted(self._tools.values(), key=lambda tool: tool.name)
        if not tools:
            raise ConfigError("no tools are registered", hint="call register_tools() first")
        context = {} if context is None else context
        if not isinstance(context, Mapping):
            raise ConfigError(f"context must be a mapping, got {context!r}")
        segments = [_words(intent)] + [_words(text) for text in _hints(context, "keywords")]
        content = {word for words in segments for word in words} - _STOP_WORDS
        hinted = [
            _phrase(text) for key in ("category", "categories") for text in _hints(context, key)
        ]
        scores = [
            self._score(tool, segments, len(content), hinted, performance, usage, unavailable)
            for tool in tools
        ]
        scores.sort(key=lambda score: (-score.total, -score.intent, score.name))
        best = scores[0]
        return ToolSelection(
            selected_tool=best.name,
            confidence_score=best.total,
            alternative_tools=tuple((score.name, score.total) for score in scores[1:3]),
            scores=MappingProxyType({score.name: score for score in scores}),
        )

    def _score(
        self,
        tool: ToolConfig,
        segments: list[list[str]],
        content_words: int,
        hinted: list[_Phrase],
        performance: Mapping[str, AppPerformance],
        usage: Mapping[str, int],
        unavailable: Collection[str],
    ) -> ToolScore:
        categories = [_phrase(category) for category in tool.categories]
        phrases = [_phrase(keyword) for keyword in tool.keywords] + categories
        intent = min(len(_covered(segments, phrases)) / max(content_words, 1), 1.0)
        if any(_matches(hint, category) for hint in hinted for category in categories):
            intent = min(intent + _CATEGORY_HINT_BOOST, 1.0)
        record = performance.get(tool.name)
        if record is not None and not isinstance(record, AppPerformance):
            raise ConfigError(f"performance[{tool.name!r}] must be AppPerformance, got {record!r}")
        uses = usage.get(tool.name, 0)
        if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
            raise ConfigError(f"usage[{tool.name!r}] must be an int >= 0, got {uses!r}")
        parts = (
            intent,
            _performance(record),
            min(uses / _SATURATING_USES, 1.0),
            1.0 if tool.available and tool.name not in unavailable else 0.0,
        )
        w = self._weights
        weights = (w.intent, w.performance, w.preference, w.availability)
        total = sum(weight * part for weight, part in zip(weights, parts, strict=True))
        return ToolScore(tool.name, total / sum(weights), *parts)


def _matches(a: _Phrase, b: _Phrase) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
