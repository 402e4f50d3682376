"""Events of the creative team (stored and streamed; see packages/core/events.py). Each carries the
session id; the session's SSE stream (team_router.py) sends them under the short names the UI reads
(`message`, `phase`, `consensus`, `question`, `plan`, `state`)."""

from typing import Any, ClassVar

from packages.core.events import Event


class TeamEvent(Event):
    project_id: int
    session_id: int

    stream_name: ClassVar[str]

    def stream_data(self) -> dict:
        return self.model_dump(mode="json", exclude={"project_id", "session_id"})


class TeamMessage(TeamEvent):
    """A whole message was stored (a specialist's turn, the user's words or a system note)."""

    type: ClassVar[str] = "team.message"
    stream_name: ClassVar[str] = "message"
    message: dict[str, Any]

    def stream_data(self) -> dict:
        return self.message


class TeamPhase(TeamEvent):
    type: ClassVar[str] = "team.phase"
    stream_name: ClassVar[str] = "phase"
    phase: str
    round: int


class TeamConsensus(TeamEvent):
    type: ClassVar[str] = "team.consensus"
    stream_name: ClassVar[str] = "consensus"
    reached: bool


class TeamQuestion(TeamEvent):
    type: ClassVar[str] = "team.question"
    stream_name: ClassVar[str] = "question"
    summary: str
    options: list[str]


class TeamPlan(TeamEvent):
    type: ClassVar[str] = "team.plan"
    stream_name: ClassVar[str] = "plan"
    params: dict[str, Any]


class TeamState(TeamEvent):
    type: ClassVar[str] = "team.state"
    stream_name: ClassVar[str] = "state"
    status: str
    error: str | None = None


STREAMED = {cls.type: cls for cls in (TeamMessage, TeamPhase, TeamConsensus, TeamQuestion, TeamPlan, TeamState)}
