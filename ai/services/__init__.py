"""Writes of the ai app: the model catalogue, conversations, summaries, the chat path.

Callers import from here; each submodule has one job (see its docstring).
"""

from ai.services.agents import agent_seed_defaults
from ai.services.catalogue import model_seed_defaults
from ai.services.chat import chat_complete, chat_prepare, chat_stream, plan_for_user
from ai.services.conversations import (
    _conversation_save_turn,
    conversation_delete,
    conversation_rename,
)
from ai.services.summaries import conversation_summarize

__all__ = [
    "_conversation_save_turn",
    "agent_seed_defaults",
    "chat_complete",
    "chat_prepare",
    "chat_stream",
    "conversation_delete",
    "conversation_rename",
    "conversation_summarize",
    "model_seed_defaults",
    "plan_for_user",
]
