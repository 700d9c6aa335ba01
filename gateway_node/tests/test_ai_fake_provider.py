"""The fake provider end to end over real sockets: each wire format through its adapter, the
credential check, the scenarios (as the node will receive them), recording, concurrency and
the command line."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from gateway_node.ai.adapters import KINDS, ProviderCall, ProviderError, Usage, adapter_for
from gateway_node.ai.adapters.base import CREDENTIAL_REFUSED
from gateway_node.ai.fake_provider import (
    SCENARIO_DIR,
    FakeProvider,
    demo_answer,
    demo_embedding_usage,
    demo_usage,
    demo_vector,
    load_scenario,
)
from gateway_node.tests.test_ai_adapters import (
    ERRORS,
    PUBLIC,
    STREAMS,
    answer_of,
    check_stream,
    cost_text,
    usage_dict,
)
from gateway_node.tests.upstreams import free_port, wait_for

KEY = "sk-test-1"
CHAT = {
    "model": PUBLIC,
    "messages": [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "First question here"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Tell me about  the weather in Zürich"},
    ],
}


@pytest.fixture(scope="module")
def fake():
    with FakeProvider(keys={KEY, "sk-test-2"}) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    parts: list[bytes]  # body as it arrived (chunk payloads, or reads)
    complete: bool  # the body ended properly (terminating chunk / full length)

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


class Client:
    """A keep-alive HTTP/1.1 client over a plain socket that reads answers strictly."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> Answer:
        head = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1"]
        head += [f"{k}: {v}" for k, v in headers] + [f"content-length: {len(body)}"]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = self.file.readline()
        status = int(status_line.split()[1])
        fields: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            fields[name.strip().lower()] = value.strip()
        parts: list[bytes] = []
        if fields.get("transfer-encoding") == "chunked":
            while True:
                size_line = self.file.readline()
                if not size_line:
                    return Answer(status, fields, parts, False)
                size = int(size_line, 16)
                if size == 0:
                    self.file.readline()
                    return Answer(status, fields, parts, True)
                data = self.file.read(size)
                if len(data) < size:
                    return Answer(status, fields, [*parts, data], False)
                parts.append(data)
                self.file.readline()
        length = int(fields.get("content-length", "0"))
        data = self.file.read(length)
        return Answer(status, fields, [data], len(data) == length)

    def call(self, kind: str, call: ProviderCall, fake: FakeProvider) -> Answer:
        base = fake.base_url(kind)[len(fake.url) :]
        target = base + call.path + (f"?{call.query}" if call.query else "")
        return self.send(call.method, target, call.headers, call.body)


def call_once(fake: FakeProvider, kind: str, call: ProviderCall) -> Answer:
    client = Client(fake.port)
    try:
        return client.call(kind, call, fake)
    finally:
        client.close()


# --- The demo answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_demo_chat_in_each_wire_format(fake, kind):
    adapter = adapter_for(kind)
    expected_text, finish = demo_answer(CHAT)
    assert expected_text == "You said: Tell me about the weather in Zürich"
    expected_usage = demo_usage(CHAT)
    assert expected_usage == Usage(3 + 3 + 2 + 7, 9, 0)

    answer = call_once(fake, kind, adapter.chat(CHAT, "fake-chat", KEY, stream=False))
    assert answer.status == 200 and answer.complete
    body, usage = adapter.chat_result(answer.status, answer.body, PUBLIC)
    message = orjson.loads(body)["choices"][0]
    assert (message["message"]["content"], message["finish_reason"]) == (expected_text, finish)
    assert usage.input_tokens == expected_usage.input_tokens
    assert usage.output_tokens == expected_usage.output_tokens

    answer = call_once(fake, kind, adapter.chat(CHAT, "fake-chat", KEY, stream=True))
    assert answer.status == 200 and answer.complete
    assert answer.headers["transfer-encoding"] == "chunked"
    translator = adapter.chat_stream(PUBLIC, include_usage=True)
    out = b"".join(translator.feed(part) for part in answer.parts) + translator.close()
    assert translator.done and not translator.error
    assert answer_of(out) == (expected_text, finish)
    assert out.endswith(b"data: [DONE]\n\n")
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (15, 9)
    # One word per chunk (each with the space after it) in every format.
    words = [w + " " for w in expected_text.split()[:-1]] + expected_text.split()[-1:]
    assert [orjson.loads(e[6:])["choices"][0]["delta"].get("content") for e in out.split(b"\n\n")[1:10]] == words


@pytest.mark.parametrize("kind", KINDS)
def test_demo_answers_stop_at_64_words_or_max_tokens(fake, kind):
    adapter = adapter_for(kind)
    long = {"model": PUBLIC, "messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(100))}]}
    text, finish = demo_answer(long)
    assert (len(text.split()), finish) == (64, "stop")
    body, usage = adapter.chat_result(
        200, call_once(fake, kind, adapter.chat(long, "m", KEY, stream=False)).body, PUBLIC
    )
    assert orjson.loads(body)["choices"][0]["message"]["content"] == text
    assert (usage.input_tokens, usage.output_tokens) == (100, 64)

    short = {**long, "max_tokens": 5}
    assert demo_answer(short) == ("You said: w0 w1 w2", "length")
    answer = call_once(fake, kind, adapter.chat(short, "m", KEY, stream=True))
    translator = adapter.chat_stream(PUBLIC, include_usage=False)
    out = b"".join(translator.feed(part) for part in answer.parts) + translator.close()
    assert answer_of(out) == ("You said: w0 w1 w2", "length")
    assert translator.usage.output_tokens == 5 == demo_usage(short).output_tokens


def test_openai_demo_usage_chunk_only_when_asked(fake):
    adapter = adapter_for("openai")
    call = adapter.chat(CHAT, "fake-chat", KEY, stream=True)
    raw = call_once(fake, "openai", call).body
    assert raw.count(b'"choices":[]') == 1  # the gateway always asks for usage
    translator = adapter.chat_stream(PUBLIC, include_usage=False)
    out = translator.feed(raw) + translator.close()
    assert b'"choices":[]' not in out and translator.usage == Usage(15, 9, 0)


@pytest.mark.parametrize(
    ("kind", "request_", "vectors_of"),
    [
        ("openai", {"model": "e", "input": ["hello world", "x"]}, ["hello world", "x"]),
        ("gemini", {"model": "e", "input": "hello world"}, ["hello world"]),
        ("gemini", {"model": "e", "input": ["hello world", "x"]}, ["hello world", "x"]),
        ("ollama", {"model": "e", "input": ["hello world", "x"]}, ["hello world", "x"]),
    ],
)
def test_demo_embeddings(fake, kind, request_, vectors_of):
    adapter = adapter_for(kind)
    answer = call_once(fake, kind, adapter.embeddings(request_, "fake-embed", KEY))
    assert answer.status == 200
    body, usage = adapter.embeddings_result(answer.status, answer.body, PUBLIC)
    data = orjson.loads(body)
    assert [d["embedding"] for d in data["data"]] == [demo_vector(t) for t in vectors_of]
    assert len(data["data"][0]["embedding"]) == 8 and demo_vector("a") != demo_vector("b")
    if kind == "gemini":
        assert usage == Usage()  # Gemini reports no counts
    else:
        assert usage == demo_embedding_usage(request_["input"]) == Usage(3, 0, None)


def test_openai_model_list(fake):
    answer = call_once(fake, "openai", ProviderCall("GET", "/models", "", [("authorization", f"Bearer {KEY}")], b""))
    assert [m["id"] for m in orjson.loads(answer.body)["data"]] == ["fake-chat", "fake-embed"]


# --- Credentials and recording -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_key_is_refused_in_the_wire_format(fake, kind):
    adapter = adapter_for(kind)
    wrong = "sk-wrong-0123456789abcdef"
    answer = call_once(fake, kind, adapter.chat(CHAT, "fake-chat", wrong, stream=False))
    assert answer.status == 401
    with pytest.raises(ProviderError) as caught:
        adapter.chat_result(answer.status, answer.body, PUBLIC)
    error = caught.value
    assert error.message == CREDENTIAL_REFUSED and not error.retryable
    assert adapter.stream_status_error(answer.status, answer.body).message == CREDENTIAL_REFUSED
    if kind == "openai":  # the real one echoes part of the key: so does the fake
        assert b"sk-wr***cdef" in answer.body
    # The second key of the pool works.
    assert call_once(fake, kind, adapter.chat(CHAT, "fake-chat", "sk-test-2", stream=False)).status == 200


def test_no_keys_accepts_anything():
    with FakeProvider() as open_fake:
        call = adapter_for("anthropic").chat(CHAT, "m", "anything", stream=False)
        assert call_once(open_fake, "anthropic", call).status == 200


@pytest.mark.parametrize("kind", KINDS)
def test_it_records_what_reached_it(fake, kind):
    call = adapter_for(kind).chat(CHAT, "fake-model", KEY, stream=True)
    call_once(fake, kind, call)
    [seen] = fake.requests
    assert seen.method == "POST"
    assert seen.path == fake.base_url(kind)[len(fake.url) :] + call.path
    assert seen.query == call.query
    assert seen.body == call.body
    for name, value in call.headers:
        assert seen.header(name) == value
    # Over HTTP too, and reset empties it.
    client = Client(fake.port)
    try:
        listed = json.loads(client.send("GET", "/_fake/requests", []).body)
        assert [(r["method"], r["path"], r["query"]) for r in listed] == [("POST", seen.path, seen.query)]
        assert orjson.loads(listed[0]["body"]) == orjson.loads(call.body)
        assert ["host", "127.0.0.1"] in listed[0]["headers"]
        assert client.send("POST", "/_fake/reset", []).status == 200
        assert json.loads(client.send("GET", "/_fake/requests", []).body) == []
    finally:
        client.close()
    assert fake.requests == []


def test_keep_alive_and_unknown_paths(fake):
    client = Client(fake.port)
    try:
        call = adapter_for("ollama").chat(CHAT, "m", KEY, stream=True)
        for _ in range(3):
            assert client.call("ollama", call, fake).complete
        assert client.send("POST", "/v2/nothing", []).status == 404
        bad = client.send("POST", "/v1/messages", [("x-api-key", KEY)], b"{not json")
        assert bad.status == 400 and orjson.loads(bad.body)["type"] == "error"
    finally:
        client.close()


def test_unknown_scenario_is_404(fake):
    answer = call_once(fake, "openai", adapter_for("openai").chat(CHAT, "scenario/nope", KEY, stream=False))
    assert answer.status == 404
    answer = call_once(fake, "openai", adapter_for("openai").chat(CHAT, "scenario/../secrets", KEY, stream=False))
    assert answer.status == 404


# --- Scenarios over the socket -------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in STREAMS if not load_scenario(n).get("stall_ms")])  # stalls: below
def test_stream_scenario_over_the_socket(fake, name):
    scenario = load_scenario(name)
    kind = scenario["wire"]
    adapter = adapter_for(kind)
    answer = call_once(fake, kind, adapter.chat(CHAT, f"scenario/{name}", KEY, stream=True))
    assert answer.status == scenario["status"]
    dropped = scenario.get("disconnect_after") is not None
    assert answer.complete is not dropped
    translator = adapter.chat_stream(PUBLIC, include_usage=True)
    out = b"".join(translator.feed(part) for part in answer.parts)
    if not dropped:
        out += translator.close()
    check_stream(scenario, translator, out, include_usage=True)


@pytest.mark.parametrize("name", ERRORS)
def test_error_scenario_over_the_socket(fake, name):
    scenario = load_scenario(name)
    kind = scenario["wire"]
    adapter = adapter_for(kind)
    answer = call_once(fake, kind, adapter.chat(CHAT, f"scenario/{name}", KEY, stream=False))
    assert answer.status == scenario["status"]
    for header, value in scenario["headers"]:
        assert answer.headers[header] == value
    with pytest.raises(ProviderError) as caught:
        adapter.chat_result(answer.status, answer.body, PUBLIC)
    error = caught.value
    assert {"status": error.status, "retryable": error.retryable, "message": error.message} == scenario["expect"][
        "provider_error"
    ]


@pytest.mark.parametrize("name", ["openai_cached", "anthropic_cached", "gemini_cached", "ollama_chat"])
def test_answer_scenario_over_the_socket(fake, name):
    scenario = load_scenario(name)
    kind = scenario["wire"]
    adapter = adapter_for(kind)
    answer = call_once(fake, kind, adapter.chat(CHAT, f"scenario/{name}", KEY, stream=False))
    body, usage = adapter.chat_result(answer.status, answer.body, PUBLIC)
    assert orjson.loads(body)["choices"][0]["message"]["content"] == scenario["expect"]["content"]
    assert usage_dict(usage) == scenario["expect"]["usage"]
    assert cost_text(usage) == scenario["expect"]["cost"]


def test_gemini_scenarios_are_named_in_the_path(fake):
    call = adapter_for("gemini").chat(CHAT, "scenario/gemini_503", KEY, stream=False)
    assert call.path == "/models/scenario%2Fgemini_503:generateContent"
    assert call_once(fake, "gemini", call).status == 503


def test_stalls_and_delays(tmp_path):
    for name in ("openai_stream_normal",):
        shutil.copy(Path(SCENARIO_DIR) / f"{name}.json", tmp_path)
    stalled = load_scenario("openai_stream_normal")
    stalled.update(stall_ms=400, stall_after=2)
    (tmp_path / "stalled.json").write_bytes(orjson.dumps(stalled))
    with FakeProvider(scenario_dir=tmp_path) as own:
        client = Client(own.port)
        try:
            started = time.monotonic()
            answer = client.call("openai", adapter_for("openai").chat(CHAT, "scenario/stalled", "", stream=True), own)
            assert time.monotonic() - started >= 0.4
            assert answer.complete and answer.body.decode() == stalled["expect"]["client"]
        finally:
            client.close()
        # The scenario directory is the configured one.
        missing = adapter_for("openai").chat(CHAT, "scenario/openai_429", "", stream=False)
        assert call_once(own, "openai", missing).status == 404


# --- Load and the command line -------------------------------------------------------------------


def test_many_concurrent_streams():
    async def one(port: int, body: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        data = await reader.readuntil(b"0\r\n\r\n")
        writer.close()
        return data

    async def many(port: int) -> list[bytes]:
        bodies = [
            adapter_for("openai")
            .chat({"model": PUBLIC, "messages": [{"role": "user", "content": f"n{i} " * 30}]}, "m", "", stream=True)
            .body
            for i in range(300)
        ]
        return await asyncio.gather(*(one(port, b) for b in bodies))

    with FakeProvider(chunk_delay_ms=1) as provider:
        answers = asyncio.run(many(provider.port))
    assert len(answers) == 300
    for i, data in enumerate(answers):
        assert data.count(b"data: ") == 1 + 32 + 1 + 1 + 1  # role, 32 words, finish, usage, [DONE]
        assert f"n{i} ".encode() in data


def test_command_line(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway_node.ai.fake_provider",
            "--port",
            str(port),
            "--key",
            KEY,
            "--chunk-delay-ms",
            "0",
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(up, what="the fake provider to listen")
        fake_view = FakeProvider(port=port)  # not started: only its addresses
        adapter = adapter_for("anthropic")
        client = Client(port)
        try:
            assert client.call("anthropic", adapter.chat(CHAT, "m", "bad", stream=False), fake_view).status == 401
            answer = client.call("anthropic", adapter.chat(CHAT, "m", KEY, stream=True), fake_view)
            translator = adapter.chat_stream(PUBLIC, include_usage=False)
            out = translator.feed(answer.body) + translator.close()
            assert answer_of(out) == demo_answer(CHAT)
        finally:
            client.close()
    finally:
        process.terminate()
        process.wait(10)
