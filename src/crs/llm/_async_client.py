"""``AsyncLLMClient``: :class:`~crs.llm.LLMClient` for asyncio, on an ``openai.AsyncOpenAI``.

Same policy, classification, rate limiter and stats as the sync client (they share
:mod:`crs.llm._core`); what differs is time. Each attempt runs inside
:func:`crs.resilience.timeout` of ``LLMConfig.timeout`` on the crs clock, which cancels the
request however far it got — connecting, waiting for headers, or between streamed chunks (each
chunk gets the full timeout). Under ``crs_clock`` that deadline fires in virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from crs.errors import CrsError, CrsTimeoutError
from crs.llm._config import LLMConfig
from crs.llm._core import Call, ClientCore
from crs.llm._errors import LLMError
from crs.llm._response import LLMResponse, parse_completion
from crs.llm._sdk import Messages
from crs.llm._stream import StreamAssembler
from crs.resilience import Attempt, timeout

__all__ = ["AsyncLLMClient", "AsyncLLMStream"]


class AsyncLLMClient(ClientCore):
    """Chat Completions through an ``openai.AsyncOpenAI``; see :class:`~crs.llm.LLMClient`.

    An injected client's connections belong to the event loop that uses them; close it there
    (``async with``). A client this object built is closed by :meth:`aclose`.
    """

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        client: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        super().__init__(config, client=client, api_key=api_key, base_url=base_url, is_async=True)

    async def complete(
        self,
        messages: Messages,
        /,
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        **options: Any,
    ) -> LLMResponse:
        """Ask the model once (retrying transient failures); see :meth:`LLMClient.complete`."""
        request = self._request(messages, tools, tool_choice, options, stream=False)
        call = self._begin(request)
        async with self._span(call, request) as span:
            call.span = span
            try:
                run = await self._policy.arun(self._attempt, call, request)
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
    ) -> AsyncLLMStream:
        """Stream the answer: ``async for`` text deltas, then read ``stream.response``."""
        request = self._request(messages, tools, tool_choice, options, stream=True)
        return AsyncLLMStream(self, request)

    async def run(self, task: str) -> dict[str, Any]:
        """The production-agent guide's contract; see :meth:`LLMClient.run`."""
        started = self._clock().monotonic()
        try:
            response = await self.complete(self._run_messages(task))
        except Exception as error:
            return self._run_error(error, started)
        return self._run_success(response, started)

    async def aclose(self) -> None:
        """Close the openai client if this object made it (an injected one stays open)."""
        if self._owned:
            await self._sdk.close()

    async def __aenter__(self) -> AsyncLLMClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals ----------------------------------------------------------------------------

    async def _attempt(self, call: Call, request: dict[str, Any]) -> Any:
        self._attempt_started(call)
        limiter = self._config.rate_limiter
        if limiter is not None:
            await limiter.aacquire(call.model)
        try:
            try:
                with self._attempt_span(call):
                    async with timeout(self._config.timeout, clock=self._config.clock):
                        return await self._sdk.chat.completions.create(**request)
            except CrsTimeoutError as expired:
                raise self._timed_out(call) from expired
        except Exception as error:
            self._attempt_failed(call, error)
            raise

    async def _open_stream(
        self, call: Call, request: dict[str, Any]
    ) -> tuple[Any, tuple[Attempt, ...]]:
        run = await self._policy.arun(self._attempt, call, request)
        return run.value, run.history

    async def _next_chunk(self, call: Call, chunks: AsyncIterator[Any]) -> Any:
        try:
            async with timeout(self._config.timeout, clock=self._config.clock):
                return await anext(chunks)
        except CrsTimeoutError as expired:
            raise self._timed_out(call) from expired


class AsyncLLMStream:
    """A streamed answer for asyncio: ``async for`` text deltas, then :attr:`response`.

    >>> async with client.stream("Tell me a story") as stream:
    ...     async for text in stream:
    ...         print(text, end="")
    ... answer = stream.response
    """

    def __init__(self, client: AsyncLLMClient, request: dict[str, Any]) -> None:
        self._client = client
        self._request = request
        self._response: LLMResponse | None = None
        self._deltas = self._run()

    def __aiter__(self) -> AsyncLLMStream:
        return self

    async def __anext__(self) -> str:
        return await anext(self._deltas)

    @property
    def response(self) -> LLMResponse:
        """The whole answer, once the stream has been read to the end."""
        if self._response is None:
            raise CrsError(
                "the stream has not been read to the end yet",
                hint="iterate over it first, or await final_response()",
            )
        return self._response

    async def final_response(self) -> LLMResponse:
        """Read whatever is left of the stream and return the whole answer."""
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        await self._deltas.aclose()

    async def __aenter__(self) -> AsyncLLMStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[str, None]:
        client = self._client
        call: Call = client._begin(self._request)
        try:
            sdk_stream, history = await client._open_stream(call, self._request)
        except Exception as error:
            failure = client._failed(call, error)
            if failure is error:
                raise
            raise failure from error
        assembler = StreamAssembler()
        try:
            async with sdk_stream:
                chunks = aiter(sdk_stream)
                while True:
                    try:
                        chunk = await client._next_chunk(call, chunks)
                    except StopAsyncIteration:
                        break
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
