"""Events of the characters domain (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class CharacterEvent(Event):
    project_id: int
    character_id: int


class CharacterCreated(CharacterEvent):
    type: ClassVar[str] = "character.created"


class CharacterUpdated(CharacterEvent):
    type: ClassVar[str] = "character.updated"


class CharacterArchived(CharacterEvent):
    type: ClassVar[str] = "character.archived"


class CharacterRestored(CharacterEvent):
    type: ClassVar[str] = "character.restored"


class ReferenceImageEvent(Event):
    project_id: int
    character_id: int
    reference_image_id: int


class ReferenceImageAdded(ReferenceImageEvent):
    type: ClassVar[str] = "reference_image.added"


class ReferenceImageDeleted(ReferenceImageEvent):
    type: ClassVar[str] = "reference_image.deleted"
