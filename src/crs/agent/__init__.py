"""The tool agent: a function-calling loop whose every step is checkpointed in the store.

:class:`ToolAgent` asks the model (:mod:`crs.llm`), runs the tool calls it makes through a
:class:`~crs.tools.ComposioAdapter` (concurrently when it makes several), feeds the results
back, and repeats until the model answers or ``max_steps`` is reached. Conversation state and a
checkpoint after every move live in the Context Reference Store under the session id, so a
crashed run resumes (:meth:`ToolAgent.resume`) without repeating a completed tool call, and
the transcript is there even when the run fails.
"""

from __future__ import annotations

from crs.agent._agent import InDoubtPolicy, ToolAgent
from crs.agent._errors import AgentResumeError, AgentSessionError, AgentSessionNotFoundError
from crs.agent._state import AgentRun, AgentStatus, AgentStep, ToolCallOutcome, ToolCallStatus
from crs.agent._tools import AgentTool

__all__ = [
    "AgentResumeError",
    "AgentRun",
    "AgentSessionError",
    "AgentSessionNotFoundError",
    "AgentStatus",
    "AgentStep",
    "AgentTool",
    "InDoubtPolicy",
    "ToolAgent",
    "ToolCallOutcome",
    "ToolCallStatus",
]
