"""The standard strategies on a scripted fake backend (named as such): what each asks the model,
in what chat, how the answer is read, retries, listwise, trace, and what is refused at compile."""

from __future__ import annotations

import math

import pytest

from judge import Completion, Item, Judge, Request, Rubric, Status, Usage
from judge.errors import JudgeError
from judge.rubric import Criterion
from judge.strategy import StrategyOptions
from judge_fake.backend import FakeBackend

BINARY = Rubric(name="t", criteria=[Criterion(id="good", text="Is it good?", scale="binary", high="h", low="l")])
PAIR = Item(id="p", prompt="Which is right?", responses=["first answer", "second answer"])
ONE = Item(id="o", prompt="What is 2+2?", responses=["4"])


def probs(**values: float) -> dict[str, float]:
    return {k: math.log(v) for k, v in values.items()}


def test_direct_is_the_default_and_asks_exactly_what_judging_asked_before():
    fake = FakeBackend()
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake).score([PAIR])
    [request] = fake.requests
    assert request.candidates == ("A", "B") and not request.continues and request.sampling.max_tokens == 32
    assert judgment.setup["strategy"] == "direct" and "strategy_options" not in judgment.setup


def test_reason_writes_then_reads_the_verdict_after_the_marker_by_continuation():
    def respond(request: Request) -> Completion | str:
        if not request.continues:
            return "Response B states the right answer; A does not."
        return Completion(texts=["B"], candidate_logprobs=probs(**{" A": 0.2, " B": 0.8}), usage=Usage(requests=1))

    fake = FakeBackend(respond)
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake, strategy="reason").score([PAIR])
    analysis, verdict = fake.requests
    assert analysis.sampling.stop == ("Verdict:",) and analysis.sampling.max_tokens == 256 and not analysis.candidates
    assert verdict.messages[:-1] == analysis.messages  # the same chat, continued
    assert verdict.messages[-1].role == "assistant"
    assert verdict.messages[-1].content == "Response B states the right answer; A does not.\nVerdict:"
    assert verdict.candidates == (" A", " B") and verdict.sampling.max_tokens == 1
    assert judgment.scores == pytest.approx([0.2, 0.8]) and judgment.preferred == 1
    assert judgment.verdicts[0].reason == "Response B states the right answer; A does not."  # the reasoning is kept
    assert [r.step for r in judgment.raw] == ["pairwise:reason", "pairwise:verdict"]


def test_reason_in_principle_mode_is_rlbff_genrm_p_yes_after_reasoning():
    fake = FakeBackend(lambda r: Completion(texts=["x"], candidate_logprobs=probs(**{" Yes": 0.9, " No": 0.1}), usage=Usage(requests=1))
                       if r.continues else "It answers the question.")
    [judgment] = Judge(BINARY, mode="principle", backend=fake, strategy="reason").score([ONE])
    assert judgment.reward == pytest.approx(0.9) and judgment.verdicts[0].reason == "It answers the question."


def test_reason_from_text_reads_what_follows_the_marker():
    fake = FakeBackend(lambda r: "A is wrong, B is right.\nVerdict: B", exact_candidates=False)
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake, strategy="reason", score_from="text").score([PAIR])
    assert judgment.preferred == 1 and len(fake.requests) == 1 and fake.requests[0].sampling.stop == ()
    assert judgment.verdicts[0].reason == "A is wrong, B is right."


def test_reason_needs_continuation_and_says_so_when_compiled():
    with pytest.raises(JudgeError, match="strategy 'reason' reads the verdict's probabilities by continuing.*continuation: no"):
        Judge(BINARY, mode="pairwise", backend=FakeBackend(continuation=False), strategy="reason")
    # from text it needs none
    Judge(BINARY, mode="pairwise", backend=FakeBackend(continuation=False, exact_candidates=False), strategy="reason", score_from="text")


def test_rethink_appends_turn_two_after_turn_ones_answer_in_one_chat():
    def respond(request: Request) -> str:
        if request.messages[-1].role == "user" and "Do not decide yet" in str(request.messages[-1].content):
            return "Dimensions: accuracy. A: wrong sum. B: none."
        return "A's sum is wrong; B is right. \\boxed{B}"

    fake = FakeBackend(respond)
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake, strategy="rethink").score([PAIR])
    turn1, turn2 = fake.requests
    assert turn2.messages[: len(turn1.messages)] == turn1.messages  # turn 1's chat is turn 2's prefix
    assert turn2.messages[len(turn1.messages)].role == "assistant"
    assert turn2.messages[len(turn1.messages)].content == "Dimensions: accuracy. A: wrong sum. B: none."
    assert [m.role for m in turn2.messages[len(turn1.messages) + 1 :]] == ["user"]
    assert not turn2.candidates and judgment.preferred == 1 and judgment.scores == [0.0, 1.0]


def test_a_format_violation_is_retried_within_the_budget_then_unparsed_with_every_attempt_kept():
    fake = FakeBackend(lambda r: "I think both are fine.")
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake, strategy="rethink",
                       strategy_options=StrategyOptions(retries=2, seed=5)).score([PAIR])
    assert judgment.status is Status.unparsed and judgment.preferred is None and judgment.scores == []
    assert judgment.retries == 2 and judgment.verdicts[0].detail == {"attempts": 3}
    assert [r.step for r in judgment.raw] == [
        "pairwise:turn1", "pairwise:turn2", "pairwise:turn1#retry1", "pairwise:turn2#retry1",
        "pairwise:turn1#retry2", "pairwise:turn2#retry2",
    ]
    first = fake.requests[:2]
    assert all(r.sampling.temperature == 0.0 and r.sampling.seed is None for r in first)
    retried = {(r.sampling.temperature, r.sampling.seed) for r in fake.requests[2:]}
    assert retried == {(0.3, 5 + 7919), (0.3, 5 + 2 * 7919)}


def test_a_retry_that_parses_is_used_and_counted():
    answers = iter(["no idea", "Yes"])
    fake = FakeBackend(lambda r: next(answers), exact_candidates=False)
    [judgment] = Judge(BINARY, backend=fake, score_from="text").score([ONE])
    assert judgment.status is Status.ok and judgment.scores == [1.0] and judgment.retries == 1
    assert [r.texts for r in judgment.raw] == [["no idea"], ["Yes"]]
    none = FakeBackend(lambda r: "no idea", exact_candidates=False)
    [judgment] = Judge(BINARY, backend=none, score_from="text", strategy_options=StrategyOptions(retries=0)).score([ONE])
    assert judgment.status is Status.unparsed and len(none.requests) == 1


def test_listwise_reads_scores_and_a_ranking_in_the_items_order():
    three = Item(id="l", prompt="Best?", responses=["r0", "r1", "r2"])
    fake = FakeBackend(lambda r: 'Thinking... {"scores": {"1": 2, "2": 5, "3": 3}, "ranking": [2, 3, 1]}', exact_candidates=False)
    [judgment] = Judge(BINARY, mode="listwise", backend=fake).score([three])
    assert judgment.status is Status.ok and judgment.scores == [2.0, 5.0, 3.0]
    assert judgment.ranking == [1, 2, 0] and judgment.preferred == 1
    text = str(fake.requests[0].messages[-1].content)
    assert text.index("[Response 1]\nr0") < text.index("[Response 2]\nr1") < text.index("[Response 3]\nr2")


@pytest.mark.parametrize("answer", [
    '{"scores": {"1": 2, "2": 5}, "ranking": [2, 1]}',  # a response missing
    '{"scores": {"1": 2, "2": 5, "3": 9}, "ranking": [2, 3, 1]}',  # off the 1-5 scale
    '{"scores": {"1": 2, "2": 5, "3": 3}, "ranking": [2, 2, 1]}',  # not a permutation
    "The second one is best.",
])
def test_listwise_refuses_malformed_answers(answer):
    three = Item(id="l", prompt="Best?", responses=["r0", "r1", "r2"])
    [judgment] = Judge(BINARY, mode="listwise", backend=FakeBackend(lambda r: answer, exact_candidates=False),
                       strategy_options=StrategyOptions(retries=0)).score([three])
    assert judgment.status is Status.unparsed and judgment.ranking is None and judgment.preferred is None


def test_listwise_vote_sums_unshuffled_scores():
    three = Item(id="l", prompt="Best?", responses=["good", "bad", "ok"])

    def respond(request: Request) -> str:
        text = str(request.messages[-1].content)
        shown = sorted(["good", "bad", "ok"], key=lambda r: text.index(f"\n{r}\n"))
        score = {"good": 5, "bad": 1, "ok": 3}
        scores = {str(i + 1): score[r] for i, r in enumerate(shown)}
        ranking = [i + 1 for i in sorted(range(3), key=lambda i: -score[shown[i]])]
        return f'{{"scores": {scores}, "ranking": {ranking}}}'.replace("'", '"')

    [judgment] = Judge(BINARY, mode="listwise", backend=FakeBackend(respond, exact_candidates=False), strategy="vote",
                       strategy_options=StrategyOptions(samples=4, seed=2)).score([three])
    assert judgment.scores == [20.0, 4.0, 12.0] and judgment.ranking == [0, 2, 1]
    assert len({tuple(s["order"]) for s in judgment.verdicts[0].detail["samples"]}) > 1  # orders were shuffled


def test_every_mode_strategy_pair_runs_or_is_refused_naming_the_pairs_that_exist():
    modes = ("pointwise", "pairwise", "principle", "listwise")
    refused = {("reason", "listwise"), ("rethink", "principle"), ("rethink", "listwise")}
    for strategy in ("direct", "reason", "rethink", "vote"):
        for mode in modes:
            make = lambda: Judge(BINARY, mode=mode, backend=FakeBackend(), strategy=strategy)  # noqa: E731
            if (strategy, mode) in refused:
                with pytest.raises(JudgeError, match=rf"strategy '{strategy}' does not run in {mode} mode .*direct: pointwise, pairwise, principle, listwise"):
                    make()
            else:
                make()
    with pytest.raises(JudgeError, match="no strategy named 'ponder'"):
        Judge(BINARY, backend=FakeBackend(), strategy="ponder")


def test_a_pack_without_a_strategys_templates_is_refused_when_compiled():
    with pytest.raises(JudgeError, match="format pack 'rewardbench' has no template for 'pairwise:turn1', which strategy 'rethink' needs"):
        Judge(BINARY, mode="pairwise", backend=FakeBackend(), strategy="rethink", format_pack="rewardbench")


def test_trace_keeps_every_steps_messages_texts_and_parsed_values():
    fake = FakeBackend(lambda r: Completion(texts=["x"], candidate_logprobs=probs(**{" A": 0.3, " B": 0.7}), usage=Usage(requests=1))
                       if r.continues else "B is better.")
    [judgment] = Judge(BINARY, mode="pairwise", backend=fake, strategy="reason",
                       strategy_options=StrategyOptions(trace=True)).score([PAIR])
    steps = [entry["step"] for entry in judgment.trace]
    assert steps == ["pairwise:reason", "pairwise:verdict", "pairwise:verdict"]  # asked, asked, read
    asked = judgment.trace[1]
    assert asked["messages"][-1] == {"role": "assistant", "content": "B is better.\nVerdict:"}
    assert asked["candidate_logprobs"] == pytest.approx(probs(**{" A": 0.3, " B": 0.7}))
    assert judgment.trace[2]["parsed"]["probabilities"] == pytest.approx({"A": 0.3, "B": 0.7})
    plain = Judge(BINARY, mode="pairwise", backend=FakeBackend()).score([PAIR])[0]
    assert plain.trace is None
