"""A small agent driven by the real openai / anthropic SDKs: `python sdk_agent.py <scenario>[,<scenario>...]`.

It talks to whatever OPENAI_BASE_URL / ANTHROPIC_BASE_URL say (the agitlog proxy), except in the
`hardcoded` scenario, which passes FAKE_URL explicitly as base_url. Each SDK call prints one JSON line
with what the SDK parsed, so tests can compare it with what the proxy recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import importlib
import types


class _OnFirstUse(types.ModuleType):
    """The SDK module, imported when a scenario first touches it: the anthropic SDK alone takes over a
    second to import, and most scenarios use only one of the two SDKs."""

    def __getattr__(self, attr: str) -> object:
        return getattr(importlib.import_module(self.__name__), attr)


anthropic = _OnFirstUse("anthropic")
openai = _OnFirstUse("openai")

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_TOOL_RESPONSES = {"type": "function", **WEATHER_TOOL_OPENAI["function"]}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER_TOOL_OPENAI["function"]["parameters"],
}
USER = [{"role": "user", "content": "Say hello."}]


def emit(kind: str, **data: object) -> None:
    print(json.dumps({"kind": kind, **data}), flush=True)


def oa(**kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-123", **kwargs)  # type: ignore[arg-type]


def an(**kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test-123", **kwargs)  # type: ignore[arg-type]


def chat(client: openai.OpenAI | None = None) -> None:
    reply = (client or oa()).chat.completions.create(model="gpt-test", messages=USER, user="u-123")
    emit(
        "chat",
        text=reply.choices[0].message.content,
        finish=reply.choices[0].finish_reason,
        usage=reply.usage.model_dump(),
    )


def chat_stream() -> None:
    stream = oa().chat.completions.create(
        model="gpt-test", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    texts, usage = [], None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage.model_dump()
        texts.extend(choice.delta.content or "" for choice in chunk.choices)
    emit("chat_stream", text="".join(texts), usage=usage)


def chat_tools(stream: bool = False) -> None:
    client = oa()
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        calls: dict[int, dict] = {}
        for chunk in client.chat.completions.create(
            model="gpt-test", messages=messages, tools=[WEATHER_TOOL_OPENAI], stream=True
        ):
            for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                entry = calls.setdefault(delta_call.index, {"id": None, "name": None, "arguments": ""})
                entry["id"] = entry["id"] or delta_call.id
                entry["name"] = entry["name"] or delta_call.function.name
                entry["arguments"] += delta_call.function.arguments or ""
        tool_calls = [calls[index] for index in sorted(calls)]
    else:
        reply = client.chat.completions.create(model="gpt-test", messages=messages, tools=[WEATHER_TOOL_OPENAI])
        tool_calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in reply.choices[0].message.tool_calls
        ]
    emit("tool_calls", tool_calls=tool_calls)
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in tool_calls
            ],
        }
    )
    messages.extend({"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in tool_calls)
    final = client.chat.completions.create(model="gpt-test", messages=messages, tools=[WEATHER_TOOL_OPENAI])
    emit("chat", text=final.choices[0].message.content)


def responses() -> None:
    reply = oa().responses.create(model="gpt-test", input="Say hello.")
    emit("responses", text=reply.output_text, usage=reply.usage.model_dump())


def responses_stream() -> None:
    with oa().responses.stream(model="gpt-test", input="Say hello.") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    emit("responses_stream", text=final.output_text, deltas="".join(deltas))


def responses_tools() -> None:
    client = oa()
    reply = client.responses.create(model="gpt-test", input="Weather in Paris?", tools=[WEATHER_TOOL_RESPONSES])
    calls = [item for item in reply.output if item.type == "function_call"]
    emit("tool_calls", tool_calls=[{"id": c.call_id, "name": c.name, "arguments": c.arguments} for c in calls])
    follow = [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
    final = client.responses.create(
        model="gpt-test", input=follow, previous_response_id=reply.id, tools=[WEATHER_TOOL_RESPONSES]
    )
    emit("responses", text=final.output_text)


def messages() -> None:
    reply = an().messages.create(model="claude-test", max_tokens=64, messages=USER, metadata={"user_id": "u-1"})
    emit(
        "messages",
        text=reply.content[0].text,
        finish=reply.stop_reason,
        usage=reply.usage.model_dump(exclude_none=True),
    )


def messages_stream() -> None:
    with an().messages.stream(model="claude-test", max_tokens=64, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    emit("messages_stream", text=text, final=final.content[0].text, usage=final.usage.model_dump(exclude_none=True))


def messages_tools() -> None:
    client = an()
    history: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    with client.messages.stream(
        model="claude-test", max_tokens=64, messages=history, tools=[WEATHER_TOOL_ANTHROPIC]
    ) as stream:
        reply = stream.get_final_message()
    uses = [block for block in reply.content if block.type == "tool_use"]
    emit("tool_calls", tool_calls=[{"id": u.id, "name": u.name, "arguments": u.input} for u in uses])
    history.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]})
    history.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": "sunny"} for u in uses]}
    )
    final = client.messages.create(model="claude-test", max_tokens=64, messages=history, tools=[WEATHER_TOOL_ANTHROPIC])
    emit("messages", text=final.content[0].text, finish=final.stop_reason)


async def _async_all() -> None:
    chat_client = openai.AsyncOpenAI(api_key="sk-test-123")
    stream = await chat_client.chat.completions.create(model="gpt-test", messages=USER, stream=True)
    texts = [choice.delta.content or "" async for chunk in stream for choice in chunk.choices]
    emit("chat_stream", text="".join(texts))
    reply = await chat_client.responses.create(model="gpt-test", input="Say hello.")
    emit("responses", text=reply.output_text)
    claude = anthropic.AsyncAnthropic(api_key="sk-ant-test-123")
    async with claude.messages.stream(model="claude-test", max_tokens=64, messages=USER) as mstream:
        final = await mstream.get_final_message()
    emit("messages_stream", text=final.content[0].text)
    message = await claude.messages.create(model="claude-test", max_tokens=64, messages=USER)
    emit("messages", text=message.content[0].text)


def async_all() -> None:
    asyncio.run(_async_all())


def retry() -> None:
    chat(oa(max_retries=3))


def die() -> None:
    texts = []
    try:
        for chunk in oa(max_retries=0).chat.completions.create(model="gpt-test", messages=USER, stream=True):
            texts.extend(choice.delta.content or "" for choice in chunk.choices)
    except Exception as exc:  # noqa: BLE001 - the point is to see which error the SDK surfaces
        emit("died", error=type(exc).__name__, text="".join(texts))
    else:
        emit("completed", text="".join(texts))


def unreachable() -> None:
    try:
        oa(max_retries=0).chat.completions.create(model="gpt-test", messages=USER)
    except openai.APIStatusError as exc:
        emit("error", status=exc.status_code, message=str(exc))


def hardcoded() -> None:
    fake = os.environ["FAKE_URL"]
    chat(oa(base_url=f"{fake}/v1"))
    reply = an(base_url=fake).messages.create(model="claude-test", max_tokens=64, messages=USER)
    emit("messages", text=reply.content[0].text)


def spawn() -> None:
    chat()
    done = subprocess.run([sys.executable, __file__, "messages"], capture_output=True, text=True, check=True)
    sys.stdout.write(done.stdout)


def served() -> None:
    chat()
    chat_stream()
    messages_stream()


SCENARIOS = {
    name: globals()[name]
    for name in (
        "chat",
        "chat_stream",
        "responses",
        "responses_stream",
        "responses_tools",
        "messages",
        "messages_stream",
        "messages_tools",
        "async_all",
        "retry",
        "die",
        "unreachable",
        "hardcoded",
        "spawn",
        "served",
    )
}
SCENARIOS["chat_tools"] = chat_tools
SCENARIOS["chat_tools_stream"] = lambda: chat_tools(stream=True)

if __name__ == "__main__":
    # `a,b,c` runs several scenarios one after the other in this one process (the SDK imports, most of
    # an agent process's cost, paid once); a line "== <scenario>" (not JSON) starts each one's output.
    names = sys.argv[1].split(",")
    for name in names:
        if len(names) > 1:
            print(f"== {name}", flush=True)
        SCENARIOS[name]()
