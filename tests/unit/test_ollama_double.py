"""The Ollama protocol double answers as Ollama's API does (docs/api.md of ollama/ollama), checked
through the real `ollama` client the studio uses: if it drifts from the real server, the vision
review tested against it is tested against the wrong thing."""

from __future__ import annotations

import base64
import json

import httpx
import ollama
import pytest

from tests.doubles.ollama import OllamaDouble, fill_schema

SCHEMA = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 3}, "available": {"type": "boolean"},
                                           "kind": {"type": "string", "enum": ["cat", "dog"]}},
          "required": ["age", "available", "kind"]}
PIXELS = b"\x89PNG\r\n\x1a\n not really a picture, but bytes"


@pytest.fixture
def double():
    with OllamaDouble() as d:
        yield d


@pytest.fixture
def client(double):
    with ollama.Client(host=double.url) as c:
        yield c


def test_version_tags_and_show(double, client):
    """GET /api/version, GET /api/tags (names with their tag, details) and POST /api/show (details,
    capabilities) as Ollama answers them; a model name without a tag means ':latest'."""
    assert httpx.get(f"{double.url}/api/version").json()["version"]
    assert httpx.get(double.url).text == "Ollama is running"
    models = client.list().models
    assert [m.model for m in models] == ["gemma3:latest"] and models[0].details.format == "gguf"
    shown = client.show("gemma3")
    assert "vision" in shown.capabilities and shown.details.family == "gemma3"


def test_show_of_a_missing_model_is_a_404(client):
    """POST /api/show for a model Ollama does not have: 404 {"error": "model 'x' not found"}."""
    with pytest.raises(ollama.ResponseError) as missing:
        client.show("llava")
    assert missing.value.status_code == 404 and missing.value.error == "model 'llava' not found"


def test_chat_without_streaming_passes_format_images_and_options(double, client):
    """stream false: one JSON object with the message and the final counts; the double received the
    JSON schema as `format`, the image as base64 in the message, and the options."""
    double.answer = lambda request: {"age": 22, "available": False, "kind": "dog"}
    response = client.chat(model="gemma3", messages=[{"role": "user", "content": "how old?", "images": [PIXELS]}],
                           format=SCHEMA, options={"temperature": 0})
    assert json.loads(response.message.content) == {"age": 22, "available": False, "kind": "dog"}
    assert response.done and response.done_reason == "stop" and response.eval_count > 0
    assert response.message.role == "assistant"
    sent = double.chats[-1]
    assert sent["format"] == SCHEMA and sent["options"] == {"temperature": 0} and sent["stream"] is False
    assert base64.b64decode(sent["messages"][0]["images"][0]) == PIXELS


def test_chat_streams_ndjson_by_default(double):
    """Without `stream`, the answer comes as chunked NDJSON lines (content pieces, done false) and a
    final line with done true, done_reason and durations; the pieces make up the whole answer."""
    double.answer = lambda request: "The sky is blue because of Rayleigh scattering."
    with httpx.stream("POST", f"{double.url}/api/chat",
                      json={"model": "gemma3", "messages": [{"role": "user", "content": "why?"}]}) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert len(lines) > 2 and all(not line["done"] for line in lines[:-1])
    assert "".join(line["message"]["content"] for line in lines) == "The sky is blue because of Rayleigh scattering."
    final = lines[-1]
    assert final["done"] and final["done_reason"] == "stop" and final["total_duration"] > 0 and final["eval_count"]


def test_streamed_chat_through_the_client(double, client):
    """The client's stream=True reads the same answer, piece by piece."""
    double.answer = lambda request: f"answer to {request['messages'][-1]['content']}"
    parts = list(client.chat(model="gemma3", messages=[{"role": "user", "content": "q1"}], stream=True))
    assert "".join(p.message.content for p in parts) == "answer to q1" and parts[-1].done


def test_default_answer_satisfies_the_format(double, client):
    """Without an answer set, the double answers a value satisfying the schema (as a grammar-
    constrained model would)."""
    response = client.chat(model="gemma3", messages=[{"role": "user", "content": "?"}], format=SCHEMA)
    assert json.loads(response.message.content) == {"age": 3, "available": False, "kind": "cat"}
    assert fill_schema({"type": "array", "items": {"type": "string"}, "minItems": 2}) == ["", ""]


def test_chat_with_a_missing_model_is_a_404(client):
    """POST /api/chat for a model not pulled: 404 {"error": "model \\"x\\" not found, try pulling it first"},
    which the client raises as ResponseError with status 404, streaming or not."""
    for stream in (False, True):
        with pytest.raises(ollama.ResponseError) as missing:
            result = client.chat(model="llava", messages=[{"role": "user", "content": "hi"}], stream=stream)
            list(result) if stream else None
        assert missing.value.status_code == 404
        assert missing.value.error == 'model "llava" not found, try pulling it first'


def test_mid_stream_error_line(double, client):
    """fail_mid_stream with "error": some content, then an {"error": ...} line, as Ollama sends when
    the runner fails mid-answer; the client raises ResponseError. Not streaming, it is a 500."""
    double.answer = lambda request: "a fairly long answer that will not be finished today"
    double.fail_mid_stream = 2
    seen = []
    with pytest.raises(ollama.ResponseError) as failed:
        for part in client.chat(model="gemma3", messages=[{"role": "user", "content": "q"}], stream=True):
            seen.append(part.message.content)
    assert seen and "error" in failed.value.error
    with pytest.raises(ollama.ResponseError) as whole:
        client.chat(model="gemma3", messages=[{"role": "user", "content": "q"}])
    assert whole.value.status_code == 500
    assert client.chat(model="gemma3", messages=[{"role": "user", "content": "q"}]).message.content.startswith("a fai")


def test_mid_stream_close(double, client):
    """fail_mid_stream with "close": the connection is cut mid-body (no final chunk, or fewer bytes
    than Content-Length); the client sees a transport error, never a complete answer."""
    double.mid_stream_failure = "close"
    double.fail_mid_stream = 2
    with pytest.raises(httpx.RemoteProtocolError):
        list(client.chat(model="gemma3", messages=[{"role": "user", "content": "q"}], stream=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.chat(model="gemma3", messages=[{"role": "user", "content": "q"}])


def test_garbage_next_answers_unparseable_text_once(double, client):
    """garbage_next: the next chat's content is not JSON even with a format; the one after is fine."""
    double.garbage_next = 1
    first = client.chat(model="gemma3", messages=[{"role": "user", "content": "?"}], format=SCHEMA)
    with pytest.raises(ValueError):
        json.loads(first.message.content)
    second = client.chat(model="gemma3", messages=[{"role": "user", "content": "?"}], format=SCHEMA)
    assert json.loads(second.message.content)["kind"] == "cat"


def test_bad_requests_are_400_with_an_error(double):
    """A body that is not JSON, no model, a format that is neither "json" nor a schema, or an image
    that is not base64: 400 {"error": ...}; an unknown path is 404."""
    chat = f"{double.url}/api/chat"
    assert httpx.post(chat, content=b"{nope").status_code == 400
    assert httpx.post(chat, json={"messages": []}).json() == {"error": "model is required"}
    bad_format = httpx.post(chat, json={"model": "gemma3", "messages": [{"role": "user", "content": "x"}],
                                        "format": "yaml"})
    assert bad_format.status_code == 400 and "format" in bad_format.json()["error"]
    bad_image = httpx.post(chat, json={"model": "gemma3", "messages": [{"role": "user", "content": "x",
                                                                         "images": ["%%%"]}]})
    assert bad_image.status_code == 400 and "base64" in bad_image.json()["error"]
    assert httpx.get(f"{double.url}/api/nothing").status_code == 404
    assert [r["path"] for r in double.requests][-1] == "/api/nothing"
