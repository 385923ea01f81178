"""One tool declaration and one question, shared by the native tool-calling tests of each backend."""

from __future__ import annotations

from judge.models import Message

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluates an arithmetic expression.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    },
}
ASK = Message(role="user", content="Is 2+2=4? Use the calculator.")


def calculator_call(call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'}}
