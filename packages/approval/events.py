"""Events of the approval domain (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class ImageDecided(Event):
    project_id: int
    image_id: int
    character_id: int
    reason: str | None = None


class ImageApproved(ImageDecided):
    type: ClassVar[str] = "image.approved"


class ImageRejected(ImageDecided):
    type: ClassVar[str] = "image.rejected"


class FeedbackRecorded(Event):
    """One per human decision (undo included), for learning from what people decide."""

    type: ClassVar[str] = "feedback.recorded"
    project_id: int
    image_id: int
    character_id: int
    decision: str  # approved | rejected | undone
    reason: str | None = None
    status: str  # the image's status after the decision


class ImageScored(Event):
    """An automatic review scored images and decided nothing about them (they stay pending): the
    Approve tab shows their new scores."""

    type: ClassVar[str] = "image.scored"
    project_id: int
    character_id: int
    image_ids: list[int]
