"""Reading the `<tool_call>` blocks a local model writes (Hermes / Qwen2.5 / SmolLM3 templates),
telling whether a chat template takes tools, and handing tool chats to Hugging Face templates."""

from __future__ import annotations

import json

import pytest

from judge.backend import Completion, ToolCall
from judge.models import Message
from judge.toolcalls import drop_specials, folder_takes_tools, parse_tool_calls, takes_tools, template_fields, with_tool_calls

CALC = '{"name": "calculator", "arguments": {"expression": "2+2"}}'


def test_one_call_is_read_and_the_rest_is_the_content():
    content, calls = parse_tool_calls(f"Let me compute it.\n<tool_call>\n{CALC}\n</tool_call>")
    assert content == "Let me compute it."
    assert calls == [ToolCall(id="call_0", name="calculator", arguments='{"expression": "2+2"}')]
    assert json.loads(calls[0].arguments) == {"expression": "2+2"}


def test_several_calls_are_numbered_in_order():
    text = f'<tool_call>{CALC}</tool_call>\n<tool_call>{{"name": "search", "arguments": {{"query": "Ünïcödé"}}}}</tool_call>'
    content, calls = parse_tool_calls(text)
    assert content == ""
    assert [(c.id, c.name) for c in calls] == [("call_0", "calculator"), ("call_1", "search")]
    assert calls[1].arguments == '{"query": "Ünïcödé"}'  # as written, not \\u-escaped


def test_text_without_calls_comes_back_unchanged():
    text = "  The answer is 4.\n\nVerdict: Yes  "
    assert parse_tool_calls(text) == (text, [])


@pytest.mark.parametrize(
    "block",
    [
        "<tool_call>{not json}</tool_call>",
        '<tool_call>{"arguments": {"x": 1}}</tool_call>',  # no name
        '<tool_call>{"name": "", "arguments": {}}</tool_call>',
        '<tool_call>["calculator"]</tool_call>',
        '<tool_call>{"name": "calculator", "arguments": 5}</tool_call>',
        "<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": \"2+</tool_call>",  # cut short
    ],
)
def test_a_malformed_block_stays_in_the_content_and_makes_no_call(block):
    text = f"Thinking. {block} Done."
    assert parse_tool_calls(text) == (text, [])


def test_a_malformed_block_beside_a_good_one_stays_and_the_good_one_is_read():
    content, calls = parse_tool_calls(f"<tool_call>oops</tool_call> then <tool_call>{CALC}</tool_call>")
    assert content == "<tool_call>oops</tool_call> then"
    assert [c.name for c in calls] == ["calculator"] and calls[0].id == "call_0"


def test_an_unclosed_last_block_is_read_when_its_json_is_whole():
    # a model that stops at its end-of-turn token right after the object
    content, calls = parse_tool_calls(f"Checking.\n<tool_call>\n{CALC}\n")
    assert content == "Checking." and [c.name for c in calls] == ["calculator"]


def test_an_unclosed_block_before_a_closed_one_does_not_swallow_it():
    content, calls = parse_tool_calls(f"<tool_call>half <tool_call>{CALC}</tool_call>")
    assert content == "<tool_call>half" and len(calls) == 1


def test_arguments_written_as_json_text_or_left_out():
    _, calls = parse_tool_calls('<tool_call>{"name": "a", "arguments": "{\\"x\\": 1}"}</tool_call><tool_call>{"name": "b"}</tool_call>')
    assert [(c.name, c.arguments) for c in calls] == [("a", '{"x": 1}'), ("b", "{}")]


def test_with_tool_calls_reads_every_text_and_leaves_errors_alone():
    done = with_tool_calls(Completion(texts=[f"<tool_call>{CALC}</tool_call>", "No call."], finish_reasons=["stop", "stop"]))
    assert done.texts == ["", "No call."]
    assert [[c.name for c in calls] for calls in done.tool_calls] == [["calculator"], []]
    failed = Completion(error="too_long: ...")
    assert with_tool_calls(failed) is failed


HERMES = "{%- if tools %}<tools>{% for tool in tools %}{{ tool | tojson }}{% endfor %}</tools>{% endif %}"
PLAIN = "{% for message in messages %}{{ message['content'] }}{% endfor %}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (HERMES, True),
        (PLAIN, False),
        (None, False),
        ({"default": PLAIN, "tool_use": HERMES}, True),
        ([{"name": "default", "template": PLAIN}], False),
        ("{{ toolset }}", False),  # a word containing it is not it
    ],
)
def test_a_template_takes_tools_when_it_reads_them(template, expected):
    assert takes_tools(template) is expected


def test_a_folder_template_is_read_from_its_files(tmp_path):
    assert folder_takes_tools(tmp_path) is None  # nothing to read
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": PLAIN}))
    assert folder_takes_tools(tmp_path) is False
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text(HERMES)
    assert folder_takes_tools(tmp_path) is True
    other = tmp_path / "other"
    other.mkdir()
    (other / "chat_template.jinja").write_text(HERMES)
    assert folder_takes_tools(other) is True
    (other / "tokenizer_config.json").write_text("{not json")
    assert folder_takes_tools(other) is None  # unreadable: unknown, never a guess


def test_template_fields_hand_calls_over_with_arguments_as_a_dict():
    call = {"id": "call_0", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'}}
    assistant = Message(role="assistant", content="", tool_calls=[call])
    assert template_fields(assistant) == {
        "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "calculator", "arguments": {"expression": "2+2"}}}]
    }
    assert call["function"]["arguments"] == '{"expression": "2+2"}'  # the message itself is untouched
    result = Message(role="tool", content="4", tool_call_id="call_0", name="calculator")
    assert template_fields(result) == {"tool_call_id": "call_0", "name": "calculator"}
    assert template_fields(Message(role="user", content="Hi")) == {}


def test_arguments_that_are_not_an_object_are_handed_over_as_written():
    call = {"id": "c", "function": {"name": "f", "arguments": "not json"}}
    [handed] = template_fields(Message(role="assistant", content="", tool_calls=[call]))["tool_calls"]
    assert handed == {"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}


def test_drop_specials_keeps_the_call_markers():
    specials = {"<|im_end|>": 2, "<tool_call>": 7, "</tool_call>": 8, "<|endoftext|>": 0}
    assert drop_specials("a<tool_call>{}</tool_call><|im_end|><|endoftext|>", specials) == "a<tool_call>{}</tool_call>"
