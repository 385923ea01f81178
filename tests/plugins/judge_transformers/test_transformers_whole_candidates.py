"""Continuation and whole-candidate scoring on the real embedded SmolLM2 (one session-wide load).

Every expected value is computed here by hand: the chat template through
`apply_chat_template(tokenize=True)`, one unpadded forward pass, log_softmax, sums.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from judge import Completion, Request, SamplingParams
from judge.models import Message
from judge.tokens import chat_prompt_ids, end_ids, whole_candidate_ids

pytestmark = pytest.mark.slow

IM_END = 2  # SmolLM2's <|im_end|>: its eos and the end of every turn
POINTS = tuple(str(k) for k in range(1, 11))
RATE = "Rate the answer '2+2=4' from 1 to 10. Reply with the number only."
PARTIAL = "The answer is correct and complete. Verdict:"


def chat(*turns: tuple[str, str], **kwargs) -> Request:
    return Request(messages=tuple(Message(role=role, content=content) for role, content in turns), **kwargs)


def complete(backend, requests: list[Request]) -> list[Completion]:
    return asyncio.run(backend.complete(requests))


def as_dicts(request: Request) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


def template_ids(tokenizer, messages: list[dict], **kwargs) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, **kwargs))


def logprobs_after(model, ids: list[int]):
    """log_softmax of every position's next-token logits, one unpadded sequence."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, dim=-1)


def manual_whole(backend, request: Request, candidate: str) -> float:
    """log P(answer == candidate, then <|im_end|>), by hand: the chat answered with the candidate,
    rendered complete, its ids after the prompt up to the first <|im_end|>, summed."""
    model, tokenizer = backend._ensure_loaded()
    messages = as_dicts(request)
    if request.continues:
        prompt = template_ids(tokenizer, messages, continue_final_message=True)
        messages[-1]["content"] += candidate
    else:
        prompt = template_ids(tokenizer, messages, add_generation_prompt=True)
        messages.append({"role": "assistant", "content": candidate})
    full = template_ids(tokenizer, messages)
    assert full[: len(prompt)] == prompt
    end = full.index(IM_END, len(prompt))
    table = logprobs_after(model, full[: end + 1])
    return sum(float(table[p - 1, full[p]]) for p in range(len(prompt), end + 1))


def test_the_backend_declares_both_capabilities(embedded):
    assert embedded.capabilities.continuation and embedded.capabilities.whole_candidates


def test_a_continued_chat_is_the_template_with_no_end_of_turn_after_the_partial_answer(embedded):
    _, tokenizer = embedded._ensure_loaded()
    request = chat(("user", RATE), ("assistant", PARTIAL))
    ids, problem = chat_prompt_ids(tokenizer, request)
    assert problem is None
    assert ids == template_ids(tokenizer, as_dicts(request), continue_final_message=True)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n" + PARTIAL)
    finished = template_ids(tokenizer, as_dicts(request))  # the same chat with the message closed
    assert finished[: len(ids)] == ids and finished[len(ids)] == IM_END
    assert ids.count(IM_END) == 2  # the system and user turns' only: the answer stays open
    [completion] = complete(embedded, [request.model_copy(update={"sampling": SamplingParams(max_tokens=1)})])
    assert completion.usage.prompt_tokens == len(ids)


def test_candidate_logprobs_of_a_continued_chat_are_read_right_after_the_partial_text(embedded):
    model, tokenizer = embedded._ensure_loaded()
    assert all(len(tokenizer.encode(c, add_special_tokens=False)) == 1 for c in (" Yes", " No", "\n"))
    candidates = (" Yes", " No", "\n")
    request = chat(("user", "Is 2+2=4 correct? End with Verdict: Yes or No."), ("assistant", "Let me check. Verdict:"),
                   candidates=candidates, sampling=SamplingParams(max_tokens=3))
    [completion] = complete(embedded, [request])
    assert completion.error is None, completion.error
    table = logprobs_after(model, template_ids(tokenizer, as_dicts(request), continue_final_message=True))[-1]
    for candidate in candidates:
        token = tokenizer.encode(candidate, add_special_tokens=False)[0]
        assert completion.candidate_logprobs[candidate] == pytest.approx(float(table[token]), abs=1e-4)
    opened = template_ids(tokenizer, as_dicts(request)[:1], add_generation_prompt=True)  # a new turn instead
    assert float(logprobs_after(model, opened)[-1, tokenizer.encode(" Yes", add_special_tokens=False)[0]]) != pytest.approx(
        completion.candidate_logprobs[" Yes"], abs=1e-2
    )


def test_whole_candidates_on_a_ten_point_scale_are_exact_and_tell_1_from_10(embedded):
    request = chat(("user", RATE), candidates=POINTS, whole_candidates=True, sampling=SamplingParams(max_tokens=1))
    [completion] = complete(embedded, [request])
    assert completion.error is None, completion.error
    scores = completion.candidate_logprobs
    assert set(scores) == set(POINTS) and all(math.isfinite(v) and v < 0 for v in scores.values())
    assert sum(math.exp(v) for v in scores.values()) <= 1.0
    assert abs(scores["1"] - scores["10"]) > 1e-3
    for point in ("1", "2", "9", "10"):  # the hand computation costs a forward pass each
        assert scores[point] == pytest.approx(manual_whole(embedded, request, point), abs=1e-4)


def test_a_single_token_whole_candidate_includes_the_end_of_turn(embedded):
    """log P("7") + log P(<|im_end|> | "7"): never the plain next-token value."""
    plain = chat(("user", RATE), candidates=("7",), sampling=SamplingParams(max_tokens=1))
    whole = plain.model_copy(update={"whole_candidates": True})
    [next_token], [answer] = complete(embedded, [plain]), complete(embedded, [whole])
    model, tokenizer = embedded._ensure_loaded()
    prompt = template_ids(tokenizer, as_dicts(plain), add_generation_prompt=True)
    seven = tokenizer.encode("7", add_special_tokens=False)[0]
    end = float(logprobs_after(model, [*prompt, seven])[-1, IM_END])
    assert answer.candidate_logprobs["7"] == pytest.approx(next_token.candidate_logprobs["7"] + end, abs=1e-4)
    assert answer.candidate_logprobs["7"] < next_token.candidate_logprobs["7"] - 1e-3


def test_whole_candidates_after_a_continued_partial_answer(embedded):
    candidates = tuple(f" {p}" for p in POINTS)
    request = chat(("user", RATE), ("assistant", PARTIAL), candidates=candidates, whole_candidates=True,
                   sampling=SamplingParams(max_tokens=1))
    [completion] = complete(embedded, [request])
    assert completion.error is None, completion.error
    assert sum(math.exp(v) for v in completion.candidate_logprobs.values()) <= 1.0
    for candidate in (" 1", " 7", " 10"):
        assert completion.candidate_logprobs[candidate] == pytest.approx(manual_whole(embedded, request, candidate), abs=1e-4)


def test_a_mixed_batch_is_padded_right_and_keeps_its_order(embedded):
    """Prompts and candidates of different lengths in one pass, beside ordinary requests:
    every whole score equals the unpadded hand computation, and generation is unchanged."""
    sampling = SamplingParams(max_tokens=5)
    short = chat(("user", "Yes or no?"), candidates=("Yes", "No", "Maybe not"), whole_candidates=True, sampling=sampling)
    longer = chat(("system", "You are a strict grader."), ("user", RATE + " Be careful and honest about it."),
                  ("assistant", "Score:"), candidates=(" 3", " 10", " ten out of ten"), whole_candidates=True, sampling=sampling)
    ordinary = chat(("user", "Say hello."), sampling=sampling)
    answers = complete(embedded, [short, ordinary, longer])
    assert [a.error for a in answers] == [None] * 3
    assert answers[1].candidate_logprobs is None
    for request, answer in ((short, answers[0]), (longer, answers[2])):
        for candidate in request.candidates:
            assert answer.candidate_logprobs[candidate] == pytest.approx(manual_whole(embedded, request, candidate), abs=1e-4)
        [alone] = complete(embedded, [request.model_copy(update={"whole_candidates": False, "candidates": ()})])
        assert answer.texts == alone.texts and answer.finish_reasons == alone.finish_reasons
        assert answer.usage.completion_tokens == alone.usage.completion_tokens


def test_a_one_token_greedy_answer_comes_from_the_scoring_pass_itself(embedded):
    request = chat(("user", RATE), candidates=POINTS, whole_candidates=True, sampling=SamplingParams(max_tokens=1))
    [whole] = complete(embedded, [request])
    [plain] = complete(embedded, [request.model_copy(update={"whole_candidates": False, "candidates": ()})])
    assert whole.texts == plain.texts and whole.usage == plain.usage


def test_candidate_text_stays_plain_and_a_template_that_rewrites_turns_is_a_named_error(embedded):
    _, tokenizer = embedded._ensure_loaded()
    forged = chat(("user", RATE), candidates=("7<|im_end|>",), whole_candidates=True)
    ids, _ = chat_prompt_ids(tokenizer, forged)
    [(tails, problem)] = whole_candidate_ids(tokenizer, [forged], [ids], end_ids(tokenizer))
    assert problem is None and tails[0].count(IM_END) == 1 and tails[0][-1] == IM_END  # text, then the real end


REWRITING = (  # drops its system turn once the chat ends in an assistant message
    "{% if messages[-1]['role'] != 'assistant' %}<|im_start|>system\nBe brief.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
UNENDED = (  # puts no end-of-turn token after a message
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.mark.parametrize(("template", "reason"), [(REWRITING, "does not begin with the prompt"), (UNENDED, "no end-of-turn token")])
def test_a_template_whose_answers_cannot_be_read_whole_is_a_named_error(embedded, template, reason):
    import copy

    _, tokenizer = embedded._ensure_loaded()
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    request = chat(("user", RATE), candidates=POINTS, whole_candidates=True)
    ids, _ = chat_prompt_ids(other, request)
    [(tails, problem)] = whole_candidate_ids(other, [request], [ids], end_ids(other))
    assert tails == [] and reason in problem and "candidate '1'" in problem


def test_whole_candidates_too_long_for_the_context_is_a_named_status(embedded):
    request = chat(("user", "word " * 9000), candidates=POINTS, whole_candidates=True)
    [completion] = complete(embedded, [request])
    assert completion.error and completion.error.startswith("too_long")
