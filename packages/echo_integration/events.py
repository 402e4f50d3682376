"""Events of Echo Brain (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class ConversationEvent(Event):
    project_id: int
    conversation_id: int


class ConversationCreated(ConversationEvent):
    type: ClassVar[str] = "echo.conversation_created"


class MessageAdded(ConversationEvent):
    """A user's message or a finished answer was stored (user messages become notes in memory)."""

    type: ClassVar[str] = "echo.message_added"
    message_id: int
    role: str


class MemoryUpdated(Event):
    """The indexer brought a project's memory up to date."""

    type: ClassVar[str] = "echo.memory_updated"
    project_id: int
    embedded: int
    removed: int
