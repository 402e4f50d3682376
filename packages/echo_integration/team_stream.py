"""How the creative team reaches the browser while it speaks.

Whole messages, phases, consensus, questions, plans and states are stored events (`team.*`, see
team_events.py): the session stream reads them from the EventHub and resumes by Last-Event-ID.
Tokens are not stored: the engine (in whatever process runs the job) sends each streamed chunk as a
NOTIFY on TOKEN_CHANNEL, and each stream listens on its own connection for its session's chunks.
A specialist answers JSON; `MessageField` decodes the text of its `message` field as it arrives
(display only: the stored message is the validated whole answer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import orjson

from packages.echo_integration.llm import ollama_chat
from packages.echo_integration.team_events import STREAMED

TOKEN_CHANNEL = "anime_studio_team_tokens"
MAX_NOTIFY_TEXT = 2000  # characters per NOTIFY (its payload is capped at 8000 bytes)
ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class MessageField:
    """Feeds on the chunks of a JSON object and returns the new decoded text of its first
    `"message"` string value (empty until it starts, and after it ends)."""

    def __init__(self, key: str = "message") -> None:
        self.key = f'"{key}"'
        self.buf = ""
        self.pos: int | None = None  # where the undecoded part of the value starts
        self.ended = False

    def _find_start(self) -> None:
        at = self.buf.find(self.key)
        if at < 0:
            return
        i = at + len(self.key)
        while i < len(self.buf) and self.buf[i] in " \t\r\n:":
            i += 1
        if i < len(self.buf) and self.buf[i] == '"':
            self.pos = i + 1

    def feed(self, chunk: str) -> str:
        self.buf += chunk
        if self.ended:
            return ""
        if self.pos is None:
            self._find_start()
            if self.pos is None:
                return ""
        out, i, buf = [], self.pos, self.buf
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                self.ended = True
                i += 1
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(buf):
                break  # the escape continues in the next chunk
            code = buf[i + 1]
            if code == "u":
                if i + 6 > len(buf):
                    break
                with contextlib.suppress(ValueError):
                    out.append(chr(int(buf[i + 2:i + 6], 16)))
                i += 6
            else:
                out.append(ESCAPES.get(code, code))
                i += 2
        self.pos = i
        return "".join(out)


TextSink = Callable[[str], Awaitable[None]]


async def speak(settings, model: str, messages: list[dict], schema: dict, on_text: TextSink) -> str:
    """One specialist's answer, streamed from Ollama with `schema` as its format: the whole content
    returned, the text of its `message` field handed to `on_text` as it arrives. Raises the
    echo_integration.llm errors (EchoUnavailable, EchoModelMissing, EchoFailed)."""
    field, parts = MessageField(), []
    async for chunk in ollama_chat(settings, messages, model=model, format=schema, options={"temperature": 0.8}):
        parts.append(chunk)
        text = field.feed(chunk)
        if text:
            await on_text(text)
    return "".join(parts)


def token_publisher(pool: asyncpg.Pool, session_id: int, message_id: int, speaker: str) -> TextSink:
    async def publish(text: str) -> None:
        for start in range(0, len(text), MAX_NOTIFY_TEXT):
            payload = orjson.dumps({"session_id": session_id, "message_id": message_id, "speaker": speaker,
                                    "text": text[start:start + MAX_NOTIFY_TEXT]}).decode()
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, $2)", TOKEN_CHANNEL, payload)
    return publish


async def session_stream(hub, database_url: str, session_id: int, project_id: int,
                         after: int) -> AsyncIterator[dict]:
    """SSE messages of one session: its stored `team.*` events after `after` (with their ids, so a
    client resumes by Last-Event-ID) and the tokens of whoever is speaking (without ids)."""
    queue: asyncio.Queue[dict] = asyncio.Queue()

    def on_token(_conn, _pid, _channel, payload: str) -> None:
        data = orjson.loads(payload)
        if data.get("session_id") == session_id:
            queue.put_nowait({"event": "token", "data": orjson.dumps(
                {k: data[k] for k in ("message_id", "speaker", "text")}).decode()})

    async def pump() -> None:
        async for event in hub.subscribe(after, project_id):
            kind = STREAMED.get(event.type) if event is not None else None
            if kind is not None and event.payload.get("session_id") == session_id:
                data = kind.model_validate(event.payload).stream_data()
                queue.put_nowait({"id": str(event.id), "event": kind.stream_name, "data": orjson.dumps(data).decode()})

    listener = await asyncpg.connect(database_url)
    await listener.add_listener(TOKEN_CHANNEL, on_token)
    task = asyncio.create_task(pump())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:  # the event pump ended (it only ends by failing): surface that
                getter.cancel()
                task.result()
                return
            yield getter.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await listener.close(timeout=2)
