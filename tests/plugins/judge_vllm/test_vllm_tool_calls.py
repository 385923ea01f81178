"""Native tool calls on vLLM's offline engine: the declarations rendered by the model's own chat
template (the same ids routine as the transformers backend), `<tool_call>` blocks read back.

The session's engine runs the converted SmolLM2, whose template never reads `tools`: it is not
able. To see the able path on the same engine, a test gives the backend the same tokenizer with
a Hermes-style template (where a user's model would bring its own), and, where said, scripts
the engine's answer so that a call the tiny model would never write is read back.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from judge import Request, SamplingParams
from judge.models import Message
from judge_vllm.backend import VLLMBackend

pytestmark = pytest.mark.slow

HERMES = """\
{%- if tools %}<|im_start|>system
# Tools
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>
Call a function with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>
{% endif %}
{%- for message in messages %}<|im_start|>{{ 'user' if message.role == 'tool' else message.role }}
{%- if message.role == 'tool' %}
<tool_response>
{{ message.content }}
</tool_response>
{%- else %}
{{ message.content }}
{%- endif %}
{%- for call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

CALCULATOR = {
    "type": "function",
    "function": {"name": "calculator", "description": "Evaluates arithmetic.",
                 "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}},
}
ASK = Message(role="user", content="Is 2+2=4? Use the calculator.")
WITH_TOOLS = Request(messages=(ASK,), tools=(CALCULATOR,), sampling=SamplingParams(max_tokens=8))
PLAIN = Request(messages=(ASK,), sampling=SamplingParams(max_tokens=8))


def complete(backend: VLLMBackend, requests: list[Request]):
    return asyncio.run(backend.complete(requests))


@pytest.fixture
def hermes_engine(vllm_offline, converted_model, monkeypatch):
    """The session's engine with a tokenizer whose template renders tools (restored afterwards)."""
    tokenizer = AutoTokenizer.from_pretrained(converted_model)
    tokenizer.chat_template = HERMES
    monkeypatch.setattr(vllm_offline, "_tokenizer", tokenizer)
    monkeypatch.setattr(vllm_offline.capabilities, "tool_calling", vllm_offline.capabilities.tool_calling)
    assert asyncio.run(vllm_offline.probe_tool_calling()) is True
    return vllm_offline


def test_the_converted_smollm2_cannot_call_tools_and_says_so(vllm_offline):
    assert vllm_offline.capabilities.tool_calling is False
    refused, ordinary = complete(vllm_offline, [WITH_TOOLS, PLAIN])
    assert refused.error and "does not render tools" in refused.error
    assert ordinary.error is None and ordinary.texts and ordinary.tool_calls is None


def test_a_folder_whose_template_reads_tools_is_able_before_the_engine_is_built(converted_model, tmp_path):
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).symlink_to(converted_model / name)
    (tmp_path / "chat_template.jinja").write_text(HERMES, encoding="utf-8")
    assert VLLMBackend(str(tmp_path)).capabilities.tool_calling is True
    assert VLLMBackend(str(converted_model)).capabilities.tool_calling is False


def test_the_real_engine_answers_with_the_declarations_in_its_prompt(hermes_engine):
    with_tools, plain = complete(hermes_engine, [WITH_TOOLS, PLAIN])
    assert with_tools.error is None and plain.error is None
    assert isinstance(with_tools.tool_calls, list) and len(with_tools.tool_calls) == 1
    assert plain.tool_calls is None
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + 20  # the declaration is in the prompt


def test_a_call_the_model_writes_is_read_back(hermes_engine, monkeypatch):
    written = 'Let me check.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "2+2"}}\n</tool_call>'
    prompts: list[list[int]] = []

    def generate(batch, params, use_tqdm=False):
        prompts.extend(p["prompt_token_ids"] for p in batch)
        sample = SimpleNamespace(text=written, token_ids=[0] * 20, finish_reason="stop", logprobs=None)
        return [SimpleNamespace(outputs=[sample], prompt_token_ids=p["prompt_token_ids"], prompt_logprobs=None) for p in batch]

    monkeypatch.setattr(hermes_engine._llm, "generate", generate)
    [answer] = complete(hermes_engine, [WITH_TOOLS])
    assert answer.error is None, answer.error
    assert answer.texts == ["Let me check."]
    [[call]] = answer.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == ("call_0", "calculator", {"expression": "2+2"})
    prompt = hermes_engine._tokenizer.decode(prompts[0])
    assert json.dumps(CALCULATOR) in prompt


def test_a_chat_going_on_after_a_call_renders_it(hermes_engine, monkeypatch):
    call = {"id": "call_0", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'}}
    chat = WITH_TOOLS.model_copy(update={"messages": (
        ASK, Message(role="assistant", content="", tool_calls=[call]), Message(role="tool", content="4", tool_call_id="call_0"),
    )})
    prompts: list[list[int]] = []
    real = hermes_engine._llm.generate

    def generate(batch, params, use_tqdm=False):
        prompts.extend(p["prompt_token_ids"] for p in batch)
        return real(batch, params, use_tqdm=use_tqdm)

    monkeypatch.setattr(hermes_engine._llm, "generate", generate)
    [answer] = complete(hermes_engine, [chat])
    assert answer.error is None
    prompt = hermes_engine._tokenizer.decode(prompts[0])
    assert '{"name": "calculator", "arguments": {"expression": "2+2"}}' in prompt
    assert "<tool_response>\n4\n</tool_response>" in prompt
