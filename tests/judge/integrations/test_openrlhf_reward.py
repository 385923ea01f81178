"""The OpenRLHF reward function, called as OpenRLHF calls it: `reward_func(queries, prompts, labels)`
with queries = the templated prompt + the response + the end-of-turn token, as OpenRLHF's
experience maker decodes them (special tokens kept). The templates are SmolLM2's real chat
template (ChatML, applied by its tokenizer) and a Llama 3 layout written out."""

from __future__ import annotations


import pytest

from judge.integrations.openrlhf import openrlhf_reward_func, split_query
from judge.rewards import PrincipleReward
from judge_fake.backend import FakeBackend
from support.yes_no import judge_that_sees


@pytest.fixture(scope="module")
def chatml(converted_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(converted_model))

    def template(question: str) -> str:
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)

    return template


def test_the_response_is_cut_out_of_the_query_with_the_templates_tokens_removed(chatml):
    prompt = chatml("How many legs does a spider have?")
    assert "<|im_start|>assistant" in prompt  # the real template
    assert split_query(prompt + "A spider has 8 legs.<|im_end|>", prompt) == ("How many legs does a spider have?", "A spider has 8 legs.")
    llama = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert split_query(llama + "Blue<|eot_id|><|end_of_text|>", llama) == ("Name a colour.", "Blue")
    assert split_query("plain prompt. The answer", "plain prompt.") == ("plain prompt.", "The answer")


answer = judge_that_sees("8 legs", 0.9, 0.2)


def test_reward_func_answers_openrlhfs_dict_with_a_flagged_stand_in_for_unparsed(chatml):
    backend = FakeBackend(answer)
    reward_func = openrlhf_reward_func(PrincipleReward(["The response contains a number."], backend=backend), missing_score=-1.0)
    prompt = chatml("How many legs does a spider have?")
    queries = [prompt + r + "<|im_end|>" for r in ["A spider has 8 legs.", "Spiders have many legs.", "garbled"]]
    result = reward_func(queries, [prompt] * 3, ["8", "", "8"])
    assert result["rewards"].tolist() == pytest.approx([0.9, 0.2, -1.0]) and result["scores"].tolist() == pytest.approx([0.9, 0.2, -1.0])
    assert result["extra_logs"]["judge_missing"].item() == pytest.approx(1 / 3)
    shown = [str(r.messages) for r in backend.requests]
    assert not any("<|im_start|>" in s or "<|im_end|>" in s for s in shown)  # the judge sees no template tokens
    assert sum("Reference" in s or "reference" in s for s in shown) >= 2  # labels "8" shown as the reference


def test_on_the_embedded_model(embedded, chatml):
    reward_func = openrlhf_reward_func(PrincipleReward(["The response contains a number."], backend=embedded))
    prompt = chatml("How many legs does a spider have?")
    result = reward_func([prompt + "A spider has 8 legs.<|im_end|>", prompt + "Spiders have many legs.<|im_end|>"], [prompt] * 2, ["", ""])
    rewards = result["rewards"].tolist()
    assert rewards[0] > rewards[1] and all(0 < r < 1 for r in rewards) and result["extra_logs"]["judge_missing"].item() == 0.0
