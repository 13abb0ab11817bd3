"""Writes of the ai app: the model catalogue, conversations, summaries, the chat engine.

Callers import from here; each submodule has one job (see its docstring), and
`ai.services.chat` describes the chat engine's public surface.
"""

from ai.services.agents import agent_seed_defaults
from ai.services.catalogue import model_seed_defaults
from ai.services.chat import (
    chat_complete,
    chat_complete_sync,
    chat_prepare,
    chat_run,
    chat_stream,
    plan_for_user,
)
from ai.services.conversations import (
    conversation_delete,
    conversation_rename,
    conversation_turn_save,
)
from ai.services.summaries import conversation_summarize

__all__ = [
    "agent_seed_defaults",
    "chat_complete",
    "chat_complete_sync",
    "chat_prepare",
    "chat_run",
    "chat_stream",
    "conversation_delete",
    "conversation_rename",
    "conversation_summarize",
    "conversation_turn_save",
    "model_seed_defaults",
    "plan_for_user",
]
