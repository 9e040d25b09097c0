"""The tool selector: intent matching, the weighted blend, validation and determinism."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crs.errors import ConfigError
from crs.tools._selection import (
    AppPerformance,
    SelectionWeights,
    ToolConfig,
    ToolSelector,
)

Race = Callable[[Callable[[], None]], None]

SEED_TOOLS: dict[str, Any] = {
    "github": {
        "keywords": ["code", "repository", "issue", "pull request"],
        "available": True,
        "categories": ["development", "collaboration"],
    },
    "gmail": {
        "keywords": ["email", "message", "communication"],
        "available": True,
        "categories": ["communication", "productivity"],
    },
    "slack": {
        "keywords": ["team", "chat", "notification"],
        "available": True,
        "categories": ["communication", "collaboration"],
    },
}


def seed_selector(weights: SelectionWeights | None = None) -> ToolSelector:
    selector = ToolSelector(weights)
    selector.register_tools(SEED_TOOLS)
    return selector


class TestIntent:
    @pytest.mark.parametrize(
        ("intent", "expected"),
        [
            ("Open an issue in the repository", "github"),
            ("Review the pull request for the code", "github"),
            ("Email the weekly report to the client", "gmail"),
            ("Forward that message by email", "gmail"),
            ("Post a notification in the team chat", "slack"),
        ],
    )
    def test_seed_configs_pick_the_obvious_tool(self, intent: str, expected: str) -> None:
        selection = seed_selector().select(intent)

        assert selection.selected_tool == expected
        assert selection.scores[expected].intent > 0
        assert all(s.intent == 0 for n, s in selection.scores.items() if n != expected)

    def test_seed_example_scores_exactly_as_the_design_notes_blend(self) -> None:
        selection = seed_selector().select(
            "Send a notification about the new code changes",
            context={"project": "web_app", "urgency": "medium"},
        )

        # content words: send, notification, new, code, changes -> github and slack match 1/5;
        # performance uses the priors 0.5 * (1 - 1000/5000) = 0.4; no usage; all available.
        assert selection.scores["github"].intent == pytest.approx(0.2)
        assert selection.confidence_score == pytest.approx(0.4 * 0.2 + 0.3 * 0.4 + 0.1)
        assert selection.selected_tool == "github"  # tied with slack: the name decides
        assert [name for name, _ in selection.alternative_tools] == ["slack", "gmail"]
        assert selection.alternative_tools[1][1] == pytest.approx(0.3 * 0.4 + 0.1)

    @pytest.mark.parametrize(
        ("intent", "expected"),
        [
            ("Close the stale issues", "github"),
            ("Mute notifications for tonight", "slack"),
            ("List my repositories", "github"),
            ("Archive old messages", "gmail"),
        ],
    )
    def test_plurals_match_singular_keywords(self, intent: str, expected: str) -> None:
        selection = seed_selector().select(intent)

        assert selection.selected_tool == expected
        assert selection.scores[expected].intent > 0

    def test_singular_intent_matches_plural_keywords(self) -> None:
        selector = ToolSelector()
        selector.register_tools({"jira": {"keywords": ["tickets", "branches", "stories"]}})

        scores = selector.select("new ticket and branch for the story").scores

        assert scores["jira"].intent == pytest.approx(3 / 4)  # new, ticket, branch, story

    def test_words_match_whole_not_as_substrings(self) -> None:
        selection = seed_selector().select("benchmark the codec on teammates")

        assert all(score.intent == 0 for score in selection.scores.values())

    def test_phrase_keyword_needs_its_words_adjacent_and_in_order(self) -> None:
        selector = seed_selector()

        adjacent = selector.select("Merge the Pull-Request now").scores["github"]
        apart = selector.select("pull the latest changes, then request review").scores["github"]
        reversed_ = selector.select("request a pull").scores["github"]

        assert adjacent.intent == pytest.approx(2 / 4)  # merge, pull, request, now
        assert apart.intent == 0
        assert reversed_.intent == 0

    def test_stop_words_inside_a_phrase_count_for_nothing(self) -> None:
        selector = ToolSelector()
        selector.register_tools({"vcs": {"keywords": ["check in"]}})

        scores = selector.select("check in the draft").scores

        assert scores["vcs"].intent == pytest.approx(1 / 2)  # check, draft; "in" is a stop word

    def test_categories_match_like_keywords(self) -> None:
        selection = seed_selector().select("plan the development roadmap")

        assert selection.selected_tool == "github"
        assert selection.scores["github"].intent == pytest.approx(1 / 3)

    def test_stop_words_do_not_dilute_the_intent(self) -> None:
        verbose = seed_selector().select("could you please send it to the team").scores["slack"]
        terse = seed_selector().select("send team").scores["slack"]

        assert verbose.intent == terse.intent == pytest.approx(1 / 2)


class TestContext:
    def test_keywords_extend_the_intent(self) -> None:
        selection = seed_selector().select("share the weekly update", context={"keywords": "email"})

        assert selection.selected_tool == "gmail"
        assert selection.scores["gmail"].intent == pytest.approx(1 / 4)  # + share weekly update

    def test_keywords_are_separate_phrases(self) -> None:
        scores = seed_selector().select("pull", context={"keywords": ["request"]}).scores

        assert scores["github"].intent == 0

    @pytest.mark.parametrize(
        ("context", "expected", "boosted"),
        [
            ({"category": "development"}, "github", {"github"}),
            ({"categories": ["Communications"]}, "gmail", {"gmail", "slack"}),
            ({"category": "productivity", "categories": ()}, "gmail", {"gmail"}),
        ],
    )
    def test_category_hints_boost_intent(
        self, context: dict[str, Any], expected: str, boosted: set[str]
    ) -> None:
        selection = seed_selector().select("share the update", context=context)

        assert selection.selected_tool == expected
        assert {n for n, s in selection.scores.items() if s.intent == 0.5} == boosted
        assert {n for n, s in selection.scores.items() if s.intent == 0} == set(
            SEED_TOOLS
        ) - boosted

    def test_category_boost_is_capped_at_one(self) -> None:
        scores = seed_selector().select("chat", context={"category": "communication"}).scores

        assert scores["slack"].intent == 1.0

    def test_unknown_context_keys_change_nothing(self) -> None:
        selector = seed_selector()

        plain = selector.select("send the team a chat")
        noisy = selector.select("send the team a chat", context={"project": "x", "urgency": 3})

        assert plain == noisy

    @pytest.mark.parametrize(
        "context",
        [{"keywords": 3}, {"category": ["ok", 4]}, {"categories": {"a": "b"}}],
    )
    def test_bad_context_values_are_rejected(self, context: dict[str, Any]) -> None:
        key = next(iter(context))

        with pytest.raises(ConfigError, match=rf"context\['{key}'\]"):
            seed_selector().select("send email", context=context)


class TestWeights:
    def test_performance_breaks_an_intent_tie(self) -> None:
        selector = seed_selector()
        fast = AppPerformance(executions=20, success_rate=1.0, avg_latency_ms=100)

        assert selector.select("share the update").selected_tool == "github"
        selection = selector.select("share the update", performance={"slack": fast})

        assert selection.selected_tool == "slack"
        assert selection.scores["slack"].performance == pytest.approx(1.0 * (1 - 100 / 5000))

    def test_no_executions_means_the_priors(self) -> None:
        unproven = AppPerformance(executions=0, success_rate=1.0, avg_latency_ms=0)

        scores = seed_selector().select("x", performance={"slack": unproven}).scores

        assert scores["slack"].performance == pytest.approx(0.4)
        assert scores["slack"].performance == scores["gmail"].performance

    def test_latency_of_five_seconds_counts_as_useless(self) -> None:
        slow = AppPerformance(executions=5, success_rate=1.0, avg_latency_ms=9000)

        scores = seed_selector().select("x", performance={"github": slow}).scores

        assert scores["github"].performance == 0.0

    def test_usage_breaks_a_tie_and_saturates_at_ten(self) -> None:
        selector = seed_selector()

        assert selector.select("send an email to the team").selected_tool == "gmail"
        selection = selector.select("send an email to the team", usage={"slack": 25})

        assert selection.selected_tool == "slack"
        assert selection.scores["slack"].preference == 1.0
        assert selector.select("x", usage={"slack": 4}).scores["slack"].preference == 0.4

    def test_an_open_circuit_loses_the_tie(self) -> None:
        selection = seed_selector().select("send an email to the team", unavailable={"gmail"})

        assert selection.selected_tool == "slack"
        assert selection.scores["gmail"].availability == 0.0

    def test_a_tool_configured_unavailable_loses_the_tie(self) -> None:
        selector = seed_selector()
        selector.register_tools({"gmail": {**SEED_TOOLS["gmail"], "available": False}})

        assert selector.select("send an email to the team").selected_tool == "slack"

    def test_custom_weights_change_the_choice(self) -> None:
        fast = {"gmail": AppPerformance(50, 1.0, 0.0)}
        intent_only = seed_selector(SelectionWeights(1, 0, 0, 0))
        speed_only = seed_selector(SelectionWeights(0, 1, 0, 0))

        by_intent = intent_only.select("ping the team chat", performance=fast)
        by_speed = speed_only.select("ping the team chat", performance=fast)

        assert (by_intent.selected_tool, by_intent.confidence_score) == ("slack", 2 / 3)
        assert (by_speed.selected_tool, by_speed.confidence_score) == ("gmail", 1.0)

    def test_only_the_ratio_of_weights_matters(self) -> None:
        usage = {"github": 3}
        default = seed_selector().select("open a pull request", usage=usage)
        scaled = seed_selector(SelectionWeights(4, 3, 2, 1)).select(
            "open a pull request", usage=usage
        )

        for name, score in default.scores.items():
            assert scaled.scores[name].total == pytest.approx(score.total)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"intent": -0.1},
            {"performance": float("nan")},
            {"preference": float("inf")},
            {"availability": "0.1"},
            {"intent": True},
            {"intent": 0, "performance": 0, "preference": 0, "availability": 0},
            {"intent": 1e308, "performance": 1e308},
        ],
    )
    def test_bad_weights_are_rejected(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ConfigError, match="weight"):
            SelectionWeights(**kwargs)

    @given(
        weights=st.tuples(*[st.floats(0, 1e6) for _ in range(4)]).filter(lambda w: sum(w) > 0),
        performance=st.dictionaries(
            st.sampled_from(sorted(SEED_TOOLS)),
            st.builds(
                AppPerformance,
                st.integers(0, 1000),
                st.floats(0, 1),
                st.floats(0, 1e9),
            ),
        ),
        usage=st.dictionaries(st.sampled_from(sorted(SEED_TOOLS)), st.integers(0, 10**6)),
        unavailable=st.sets(st.sampled_from(sorted(SEED_TOOLS))),
        intent=st.text(string.ascii_letters + " -", min_size=1).filter(lambda t: t.strip(" -"))
        | st.sampled_from(["chat chat chat", "pull request issue code repository"]),
    )
    def test_confidence_is_always_in_unit_interval_and_the_max(
        self,
        weights: tuple[float, float, float, float],
        performance: dict[str, AppPerformance],
        usage: dict[str, int],
        unavailable: set[str],
        intent: str,
    ) -> None:
        selection = seed_selector(SelectionWeights(*weights)).select(
            intent, performance=performance, usage=usage, unavailable=unavailable
        )

        for score in selection.scores.values():
            parts = (score.intent, score.performance, score.preference, score.availability)
            assert 0.0 <= score.total <= 1.0
            assert all(0.0 <= part <= 1.0 for part in parts)
        assert selection.confidence_score == max(s.total for s in selection.scores.values())
        assert selection.confidence_score == selection.scores[selection.selected_tool].total


class TestDeterminism:
    def test_ties_go_to_the_name_whatever_the_registration_order(self) -> None:
        forward, backward = ToolSelector(), ToolSelector()
        forward.register_tools(SEED_TOOLS)
        backward.register_tools(dict(reversed(SEED_TOOLS.items())))

        first = forward.select("share the update")

        assert first.selected_tool == "github"
        assert [name for name, _ in first.alternative_tools] == ["gmail", "slack"]
        assert backward.select("share the update") == first
        assert forward.select("share the update") == first

    def test_equal_totals_go_to_the_higher_intent_before_the_name(self) -> None:
        selector = ToolSelector(
            SelectionWeights(intent=1, performance=0, preference=1, availability=0)
        )
        selector.register_tools(
            {"alpha": {"keywords": ["zebra"]}, "beta": {"keywords": ["deploy"]}}
        )

        selection = selector.select("deploy", usage={"alpha": 10})

        assert selection.scores["alpha"].total == selection.scores["beta"].total == 0.5
        assert selection.selected_tool == "beta"

    def test_scores_are_ranked_best_first_and_read_only(self) -> None:
        selection = seed_selector().select("open a pull request in the team chat")

        assert list(selection.scores) == ["github", "slack", "gmail"]
        with pytest.raises(TypeError):
            selection.scores["x"] = selection.scores["github"]  # type: ignore[index]

    def test_to_dict_has_the_design_notes_shape(self) -> None:
        selection = seed_selector().select("Post a notification in the team chat")

        as_dict = selection.to_dict()

        assert set(as_dict) == {"selected_tool", "confidence_score", "alternative_tools"}
        assert as_dict["selected_tool"] == "slack"
        assert as_dict["confidence_score"] == selection.confidence_score
        assert as_dict["alternative_tools"] == [[n, s] for n, s in selection.alternative_tools]
        assert len(as_dict["alternative_tools"]) == 2
        assert json.loads(json.dumps(as_dict)) == as_dict


class TestRegistration:
    def test_parse_reads_the_seed_shape(self) -> None:
        tool = ToolConfig.parse("github", SEED_TOOLS["github"])

        assert tool == ToolConfig(
            "github",
            keywords=("code", "repository", "issue", "pull request"),
            categories=("development", "collaboration"),
        )

    @pytest.mark.parametrize(
        ("mapping", "fragments"),
        [
            ({"keyword": ["code"]}, ["'github'", "'keyword'", "['code']"]),
            ({"keywords": "code"}, ["'github'", "'keywords'", "'code'"]),
            ({"keywords": ["code", 7]}, ["'github'", "'keywords'", "7"]),
            ({"categories": ["the"]}, ["'github'", "'categories'", "'the'"]),
            ({"keywords": ["!!"]}, ["'github'", "'keywords'", "'!!'"]),
            ({"available": "yes"}, ["'github'", "'available'", "'yes'"]),
            ({"description": 3}, ["'github'", "'description'", "3"]),
        ],
    )
    def test_bad_configs_name_tool_field_and_value(
        self, mapping: dict[str, Any], fragments: list[str]
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            ToolConfig.parse("github", mapping)

        for fragment in fragments:
            assert fragment in str(caught.value)

    def test_registration_is_all_or_nothing(self) -> None:
        selector = ToolSelector()

        with pytest.raises(ConfigError, match="'broken'"):
            selector.register_tools({"ok": {"keywords": ["a b"]}, "broken": {"keywords": 1}})

        assert dict(selector.tools) == {}

    def test_re_registering_replaces_and_unregister_removes(self) -> None:
        selector = seed_selector()
        selector.register_tools({"slack": ToolConfig("slack", ("standup",), ())})

        assert selector.tools["slack"].keywords == ("standup",)
        selector.unregister("gmail")
        assert sorted(selector.tools) == ["github", "slack"]
        with pytest.raises(ConfigError, match="'gmail'"):
            selector.unregister("gmail")

    def test_tools_is_a_read_only_view(self) -> None:
        tools = seed_selector().tools

        with pytest.raises(TypeError):
            tools["x"] = tools["github"]  # type: ignore[index]

    def test_name_mismatch_is_rejected(self) -> None:
        with pytest.raises(ConfigError, match=r"'gh'.*'github'"):
            ToolSelector().register_tools({"github": ToolConfig("gh", ("code",), ())})

    def test_selecting_with_no_tools_says_what_to_do(self) -> None:
        with pytest.raises(ConfigError) as caught:
            ToolSelector().select("send an email")

        assert caught.value.hint is not None
        assert "register_tools" in caught.value.hint

    @pytest.mark.parametrize("intent", ["", "   \n\t", "?!"])
    def test_an_intent_without_words_is_rejected(self, intent: str) -> None:
        with pytest.raises(ConfigError, match="intent"):
            seed_selector().select(intent)

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"usage": {"slack": -1}}, "usage['slack']"),
            ({"usage": {"slack": 1.5}}, "usage['slack']"),
            ({"performance": {"gmail": {"success_rate": 1}}}, "performance['gmail']"),
        ],
    )
    def test_bad_feed_data_names_the_app(self, kwargs: dict[str, Any], fragment: str) -> None:
        with pytest.raises(ConfigError) as caught:
            seed_selector().select("send email", **kwargs)

        assert fragment in str(caught.value)

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            ((-1, 0.5, 10.0), "executions"),
            ((True, 0.5, 10.0), "executions"),
            ((1, 1.5, 10.0), "success_rate"),
            ((1, 0.5, float("nan")), "avg_latency_ms"),
        ],
    )
    def test_bad_performance_records_are_rejected(
        self, args: tuple[Any, Any, Any], field: str
    ) -> None:
        with pytest.raises(ConfigError, match=field):
            AppPerformance(*args)

    def test_concurrent_registration_and_selection(self, race: Race) -> None:
        selector = seed_selector()
        counter = iter(range(1000))

        def worker() -> None:
            for _ in range(20):
                name = f"tool{next(counter)}"
                selector.register_tools({name: {"keywords": [name]}})
                assert selector.select(name).selected_tool == name

        race(worker)

        assert len(selector.tools) == 3 + 8 * 20
