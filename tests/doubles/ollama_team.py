"""Scripted answers of the five specialists for the Ollama double (tests/doubles/ollama.py), so the
team engine is tested through the real `ollama` client and the real protocol.

    script = TeamScript()
    ollama_double.answer = script          # answers each chat as the specialist it addresses
    script.agree["lens"] = False           # Lens disagrees in refinement
    script.approve = [False, True]         # Lens's verdicts in review, in order (then True)
    script.fixed["frame"] = "Same words"   # Frame says the same thing every time (a loop)
    script.bad_plans = 2                   # Pixel's next 2 plans break the schema (steps 999)

The specialist is read from the system prompt ("You are Luna, ..."), the phase from the task line
("Phase: refinement."). Records `turns`: (speaker, phase, request) per chat answered.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.doubles.ollama import fill_schema

_WHO = re.compile(r"You are (\w+)")
_PHASE = re.compile(r"^Phase: (\w+)\.", re.MULTILINE)


def speaker_of(request: dict) -> str:
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    match = _WHO.search(system)
    return match.group(1).lower() if match else "?"


def phase_of(request: dict) -> str:
    user = request["messages"][-1]["content"]
    match = _PHASE.search(user)
    return match.group(1) if match else "?"


class TeamScript:
    def __init__(self) -> None:
        self.agree: dict[str, bool] = {}
        self.approve: list[bool] = []
        self.fixed: dict[str, str] = {}
        self.bad_plans = 0
        self.plan: dict[str, Any] = {}
        self.turns: list[tuple[str, str, dict]] = []
        self._n = itertools.count(1)

    def __call__(self, request: dict) -> Any:
        speaker, phase = speaker_of(request), phase_of(request)
        self.turns.append((speaker, phase, request))
        n = next(self._n)
        message = self.fixed.get(speaker) or f"{speaker.capitalize()} speaking, turn {n}: a \"quoted\" idea."
        schema = request["format"]
        if speaker == "pixel":
            params = {**fill_schema(schema["properties"]["params"]), **self.plan}
            if self.bad_plans > 0:
                self.bad_plans -= 1
                params = {**params, "steps": 999} if "steps" in params else {**params, "duration_s": 99}
            return {"message": message, "params": params}
        if phase == "review":
            verdict = self.approve.pop(0) if self.approve else True
            return {"message": message, "approve": verdict, "risks": [] if verdict else [f"risk {n}"]}
        return {"message": message, "agree": self.agree.get(speaker, True), "proposal": f"{speaker} proposal {n}"}


