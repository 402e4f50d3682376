"""Echo Brain's Ollama side: one streaming chat helper, one whole-answer helper, and their errors.

Used by the chat, prompt enhancement, narration and the creative team. The client is the `ollama`
package's AsyncClient against OLLAMA_HOST; a missing model is a clear "pull it or pick another".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

from packages.core.errors import DomainError
from packages.core.settings import Settings

CONNECT_S = 5.0
TIMEOUT_S = 300.0  # between two streamed lines (a cold model loads first)


class EchoUnavailable(DomainError):
    """Ollama is not configured or cannot be reached."""

    status = 503
    code = "ollama_unreachable"


class EchoModelMissing(DomainError):
    """Ollama answers, but has no such model."""

    status = 502
    code = "model_missing"


class EchoFailed(DomainError):
    """The model started and failed (an error line, a cut connection)."""

    status = 502
    code = "ollama_failed"


def missing_model(model: str) -> EchoModelMissing:
    return EchoModelMissing(f"Ollama has no model '{model}': pull it (`ollama pull {model}`) or pick another "
                            f"(ANIME_STUDIO_CHAT_MODEL, ANIME_STUDIO_EMBED_MODEL or the team's role models)")


def client(settings: Settings) -> ollama.AsyncClient:
    if not settings.ollama_host:
        raise EchoUnavailable("Ollama is not configured: set OLLAMA_HOST (e.g. http://127.0.0.1:11434)")
    return ollama.AsyncClient(host=settings.ollama_host, timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_S))


def translate(exc: Exception, model: str, host: str | None) -> DomainError:
    """The domain error for what the ollama client raised."""
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404 or "not found" in str(exc.error).lower():
            return missing_model(model)
        return EchoFailed(f"Ollama failed: {exc.error}")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionError):
        return EchoUnavailable(f"Ollama at {host} cannot be reached: {exc}")
    return EchoFailed(f"Ollama's answer broke off: {exc}")


def _request(settings: Settings, messages: list[dict], model: str | None, format: Any, options: dict | None) -> dict:
    kwargs: dict[str, Any] = {"model": model or settings.chat_model, "messages": messages}
    if format is not None:
        kwargs["format"] = format
    if options:
        kwargs["options"] = options
    return kwargs


async def ollama_chat(settings: Settings, messages: list[dict], *, model: str | None = None, format: Any = None,
                      options: dict | None = None) -> AsyncIterator[str]:
    """The answer's content, chunk by chunk as Ollama streams it."""
    kwargs = _request(settings, messages, model, format, options)
    api = client(settings)
    try:
        async for part in await api.chat(**kwargs, stream=True):
            text = part.message.content if part.message else ""
            if text:
                yield text
    except DomainError:
        raise
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
        raise translate(exc, kwargs["model"], settings.ollama_host) from exc


async def ollama_answer(settings: Settings, messages: list[dict], *, model: str | None = None, format: Any = None,
                        options: dict | None = None) -> str:
    """The whole answer's content (one non-streamed request)."""
    kwargs = _request(settings, messages, model, format, options)
    try:
        response = await client(settings).chat(**kwargs, stream=False)
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
        raise translate(exc, kwargs["model"], settings.ollama_host) from exc
    return response.message.content or ""


async def probe(settings: Settings, models: list[str]) -> tuple[bool, list[str]]:
    """(reachable, the models of `models` Ollama does not have)."""
    try:
        listed = await client(settings).list()
    except EchoUnavailable:
        return False, list(models)
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError):
        return False, list(models)
    have = {full_name(m.model or "") for m in listed.models}
    return True, [m for m in models if full_name(m) not in have]


def full_name(name: str) -> str:
    """Ollama's short form: `llama3.1` is `llama3.1:latest`."""
    last = name.strip().rsplit("/", 1)[-1]
    return name.strip() if ":" in last else f"{name.strip()}:latest"
