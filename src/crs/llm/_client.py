"""``LLMClient``: the openai client for production agents, on crs's resilience kit (sync).

One retry policy, one classification, one rate limiter and one clock govern every request; the
SDK's own retries are off. Each attempt is timed out by the SDK's HTTP timeout set to
``LLMConfig.timeout`` (a sync call cannot be cancelled from outside, so the transport is where
the limit can bite); under ``crs_clock`` that timeout runs in virtual time.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from types import TracebackType
from typing import Any

from crs.errors import CrsError
from crs.llm._config import LLMConfig
from crs.llm._core import Call, ClientCore
from crs.llm._errors import LLMError
from crs.llm._response import LLMResponse, parse_completion
from crs.llm._sdk import Messages
from crs.llm._stream import StreamAssembler
from crs.resilience import Attempt

__all__ = ["LLMClient", "LLMStream"]


class LLMClient(ClientCore):
    """Chat Completions through an ``openai.OpenAI``, with crs retries, timeouts and limits.

    Args:
        config: model, sampling, retries, timeout, rate limiter, clock (defaults if ``None``).
        client: an ``openai.OpenAI`` to use (a copy with ``max_retries=0`` is taken; the
            caller keeps ownership and closes it).
        api_key, base_url: build a client instead (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``
            when ``None``); closed by :meth:`close`.

    Raises:
        ConfigError: openai is not installed (extra ``pytest-crs[openai]``), no API key could
            be found, or the arguments contradict each other.
    """

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        client: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        super().__init__(config, client=client, api_key=api_key, base_url=base_url, is_async=False)

    def complete(
        self,
        messages: Messages,
        /,
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        **options: Any,
    ) -> LLMResponse:
        """Ask the model once (retrying transient failures) and return its parsed answer.

        ``messages`` is a user prompt or a list of Chat Completions messages; ``options`` go
        to ``chat.completions.create`` and override the config (``model``, ``temperature``,
        ``response_format`` ...).

        Raises:
            LLMError: the call failed for good; ``classification`` says why.
            ToolArgumentsError: the model called a tool with arguments that are not JSON.
        """
        request = self._request(messages, tools, tool_choice, options, stream=False)
        call = self._begin(request)
        with self._span(call, request) as span:
            call.span = span
            try:
                run = self._policy.run(self._attempt, call, request)
                response = parse_completion(
                    run.value,
                    attempts=call.attempts,
                    latency=self._elapsed(call),
                    history=run.history,
                )
            except Exception as error:
                failure = self._failed(call, error)
                if failure is error:
                    raise
                raise failure from error
            self._report(call, response)
        return self._succeeded(response)

    def stream(
        self,
        messages: Messages,
        /,
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        **options: Any,
    ) -> LLMStream:
        """Stream the answer: iterate for text deltas, then read :attr:`LLMStream.response`.

        The request is sent on the first iteration; opening it is retried like
        :meth:`complete`, but a stream that breaks after text was delivered is not (the text is
        already out) and raises :class:`LLMError`. Tool calls arrive in the final response.
        """
        request = self._request(messages, tools, tool_choice, options, stream=True)
        return LLMStream(self, request)

    def run(self, task: str) -> dict[str, Any]:
        """The production-agent guide's contract: never raises for a failed call.

        Returns ``{"status": "success", "result": str, "duration": float}`` or
        ``{"status": "error", "error": str, "duration": float}``, where ``error`` is
        ``"<kind>: <detail>"`` (e.g. ``"rate_limit: ..."``), redacted, and ``duration`` is
        seconds on the crs clock.
        """
        started = self._clock().monotonic()
        try:
            response = self.complete(self._run_messages(task))
        except Exception as error:
            return self._run_error(error, started)
        return self._run_success(response, started)

    def close(self) -> None:
        """Close the openai client if this object made it (an injected one stays open)."""
        if self._owned:
            self._sdk.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _attempt(self, call: Call, request: dict[str, Any]) -> Any:
        self._attempt_started(call)
        limiter = self._config.rate_limiter
        if limiter is not None:
            limiter.acquire(call.model)
        try:
            with self._attempt_span(call):
                return self._sdk.chat.completions.create(**request, timeout=self._config.timeout)
        except Exception as error:
            self._attempt_failed(call, error)
            raise

    def _open_stream(self, call: Call, request: dict[str, Any]) -> tuple[Any, tuple[Attempt, ...]]:
        run = self._policy.run(self._attempt, call, request)
        return run.value, run.history


class LLMStream:
    """A streamed answer: an iterator of text deltas, then the whole :class:`LLMResponse`.

    >>> with client.stream("Tell me a story") as stream:
    ...     for text in stream:
    ...         print(text, end="")
    ... answer = stream.response

    Closing it early (``close()``, leaving the ``with`` block, ``break`` then garbage
    collection) closes the HTTP response.
    """

    def __init__(self, client: LLMClient, request: dict[str, Any]) -> None:
        self._client = client
        self._request = request
        self._response: LLMResponse | None = None
        self._deltas = self._run()

    def __iter__(self) -> LLMStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    @property
    def response(self) -> LLMResponse:
        """The whole answer, once the stream has been read to the end."""
        if self._response is None:
            raise CrsError(
                "the stream has not been read to the end yet",
                hint="iterate over it first, or call final_response()",
            )
        return self._response

    def final_response(self) -> LLMResponse:
        """Read whatever is left of the stream and return the whole answer."""
        for _ in self:
            pass
        return self.response

    def close(self) -> None:
        self._deltas.close()

    def __enter__(self) -> LLMStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> Generator[str, None, None]:
        client = self._client
        call: Call = client._begin(self._request)
        try:
            sdk_stream, history = client._open_stream(call, self._request)
        except Exception as error:
            failure = client._failed(call, error)
            if failure is error:
                raise
            raise failure from error
        assembler = StreamAssembler()
        try:
            with sdk_stream:
                for chunk in sdk_stream:
                    text = assembler.feed(chunk)
                    if text:
                        yield text
            response = assembler.response(
                attempts=call.attempts,
                latency=client._elapsed(call),
                history=history,
                model=call.model,
            )
        except Exception as error:
            if not isinstance(error, LLMError):
                client._attempt_failed(call, error)
            failure = client._failed(call, error)
            if failure is error:
                raise
            raise failure from error
        self._response = client._succeeded(response)
