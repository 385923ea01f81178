"""Voting with a meta RM, exactly, on a scripted fake backend (named as such): counts, ties,
top-k_meta, shuffling and un-shuffling, seeds, and the global random state left alone."""

from __future__ import annotations

import random

import pytest

from judge import Completion, Item, Judge, Request, Rubric, Status, Usage
from judge.parsing import ParseSpec, Parsed
from judge.rubric import Criterion
from judge.strategy import StrategyOptions
from judge_fake.backend import FakeBackend
from judge_standard.strategies.vote import Sample, choose_voters, tally, to_question_order

RUBRIC = Rubric(name="t", criteria=[Criterion(id="good", text="Is it good?", scale="binary", high="h", low="l")])
PAIR = Item(id="p", prompt="Which?", responses=["first answer", "second answer"])
CHOICE = ParseSpec(kind="choice", candidates=("A", "B"), use_probabilities=False, count=2)


def sample(order, **parsed) -> Sample:
    return Sample(tuple(order), "", Parsed(status=parsed.pop("status", Status.ok), **parsed))


def shown_first(request: Request) -> str:
    """Which response the judge was shown as A (the fake reads its own prompt)."""
    text = str(request.messages[-1].content)
    return "first" if text.index("first answer") < text.index("second answer") else "second"


def test_pairwise_votes_are_counted_and_a_tie_is_a_tie():
    votes = [sample((0, 1), choice="A"), sample((0, 1), choice="B"), sample((0, 1), choice="A")]
    assert tally(choose_voters(votes, None), CHOICE).probabilities == {"A": 2 / 3, "B": 1 / 3}
    tie = [sample((0, 1), choice="A"), sample((0, 1), choice="B")]
    assert tally(choose_voters(tie, None), CHOICE).probabilities == {"A": 0.5, "B": 0.5}


def test_scores_are_summed_per_response_and_pointwise_scores_averaged():
    spec = ParseSpec(kind="scores", candidates=("A", "B"), use_probabilities=False, count=2, low=1, high=10)
    votes = [sample((0, 1), scores=[7, 3]), sample((0, 1), scores=[2, 9]), sample((0, 1), scores=[5, 5])]
    assert tally(choose_voters(votes, None), spec).scores == [14, 17]
    point = ParseSpec(kind="score", candidates=("1", "2", "3"), use_probabilities=False)
    assert tally(choose_voters([sample((), value=1.0), sample((), value=3.0)], None), point).value == 2.0


def test_unread_samples_do_not_vote_and_nothing_readable_is_unparsed_not_a_default():
    votes = [sample((0, 1), status=Status.unparsed), sample((0, 1), choice="B")]
    assert tally(choose_voters(votes, None), CHOICE).probabilities == {"A": 0.0, "B": 1.0}
    nothing = tally(choose_voters([sample((0, 1), status=Status.unparsed)], None), CHOICE)
    assert nothing.status is Status.unparsed and nothing.probabilities is None


def test_only_the_top_k_meta_vote_ties_kept_in_sample_order():
    votes = [sample((0, 1), choice="A"), sample((0, 1), choice="B"), sample((0, 1), choice="B"), sample((0, 1), choice="A")]
    for s, meta in zip(votes, [0.9, 0.2, 0.4, 0.9]):
        s.meta = meta
    voters = choose_voters(votes, 2)
    assert voters == [votes[0], votes[3]] and [s.voted for s in votes] == [True, False, False, True]
    unrated = [sample((0, 1), choice="B"), sample((0, 1), choice="A")]
    unrated[1].meta = 0.1  # a sample the meta RM could not rate ranks below every rated one
    assert choose_voters(unrated, 1) == [unrated[1]]


def test_a_shuffled_sample_is_restated_in_the_questions_order():
    # shown (1, 0): label A was the item's response 1
    assert to_question_order(Parsed(status=Status.ok, choice="A"), (1, 0), (0, 1), CHOICE).choice == "B"
    three = ParseSpec(kind="ranking", candidates=("1", "2", "3"), use_probabilities=False, count=3)
    moved = to_question_order(Parsed(status=Status.ok, scores=[5, 3, 1], ranking=[0, 1, 2]), (2, 0, 1), (0, 1, 2), three)
    assert moved.scores == [3, 1, 5] and moved.ranking == [2, 0, 1]


def test_vote_end_to_end_counts_unshuffled_votes_and_records_every_sample():
    """The judge always says A; with shuffled orders, A means a different response per order."""
    fake = FakeBackend(lambda request: "A")
    options = StrategyOptions(samples=8, seed=3)
    [judgment] = Judge(RUBRIC, mode="pairwise", backend=fake, strategy="vote", strategy_options=options).score([PAIR])
    detail = judgment.verdicts[0].detail
    firsts = [s["order"][0] for s in detail["samples"]]
    assert detail["voters"] == 8 and sum(detail["counts"].values()) == 8
    assert detail["counts"].get("A", 0) == firsts.count(0) and detail["counts"].get("B", 0) == firsts.count(1)
    assert judgment.scores == pytest.approx([firsts.count(0) / 8, firsts.count(1) / 8])
    assert 0 < firsts.count(0) < 8  # both orders were drawn
    assert len(fake.requests) == 8 and all(r.sampling.n == 1 and r.sampling.temperature == 0.7 for r in fake.requests)
    assert len({r.sampling.seed for r in fake.requests}) == 8


def test_native_n_sends_one_request_per_order_sharing_its_prefill():
    fake = FakeBackend(lambda request: ["A"] * request.sampling.n, native_n=True)
    options = StrategyOptions(samples=8, seed=3)
    Judge(RUBRIC, mode="pairwise", backend=fake, strategy="vote", strategy_options=options).score([PAIR])
    assert sorted(r.sampling.n for r in fake.requests) in ([8], [1, 7], [2, 6], [3, 5], [4, 4])
    assert len(fake.requests) <= 2
    pointwise = FakeBackend(lambda request: ["Yes"] * request.sampling.n, native_n=True)
    Judge(RUBRIC, backend=pointwise, strategy="vote", strategy_options=StrategyOptions(samples=5)).score([PAIR])
    assert [r.sampling.n for r in pointwise.requests] == [5, 5]  # one request per (response, criterion): no shuffle


def test_a_seed_makes_votes_reproducible_and_the_global_random_state_is_untouched():
    def orders(seed: int) -> list[list[int]]:
        fake = FakeBackend(lambda request: "A" if shown_first(request) == "first" else "B")
        [j] = Judge(RUBRIC, mode="pairwise", backend=fake, strategy="vote",
                    strategy_options=StrategyOptions(samples=6, seed=seed)).score([PAIR])
        return [s["order"] for s in j.verdicts[0].detail["samples"]]

    random.seed(1234)
    before = random.getstate()
    first, again, other = orders(7), orders(7), orders(8)
    assert random.getstate() == before
    assert first == again and first != other


def test_a_judge_that_always_prefers_the_first_response_shown_ties_under_shuffling():
    fake = FakeBackend(lambda request: "A")
    options = StrategyOptions(samples=2, seed=0)
    for seed in range(20):  # find a seed that draws both orders once each: the votes split 1-1
        options = StrategyOptions(samples=2, seed=seed)
        [judgment] = Judge(RUBRIC, mode="pairwise", backend=fake, strategy="vote", strategy_options=options).score([PAIR])
        if sorted(s["order"][0] for s in judgment.verdicts[0].detail["samples"]) == [0, 1]:
            break
    assert judgment.preferred is None and judgment.scores == [0.5, 0.5]
    assert judgment.verdicts[0].detail["agreement"] is None  # no winner: no agreement share


def test_meta_rm_rates_every_sample_and_only_the_top_k_meta_vote():
    """The meta RM (a second judge, principle mode) likes critiques that name the second answer."""

    def judge_or_meta(request: Request) -> Completion | str:
        text = " ".join(str(m.content) for m in request.messages)
        if "critique is correct" in text:  # the meta RM's principle
            sure = "second" in str(request.messages[-2].content)
            return Completion(texts=["Yes"], candidate_logprobs={"Yes": -0.1 if sure else -3.0, "No": -3.0 if sure else -0.1},
                              usage=Usage(requests=1))
        return "A: it is the second answer" if shown_first(request) == "second" else "A: the first answer"

    fake = FakeBackend(judge_or_meta)
    meta = Judge(Rubric.from_principles(["The critique is correct and well founded."]), mode="principle", backend=fake)
    options = StrategyOptions(samples=6, meta_top=2, seed=1)
    [judgment] = Judge(RUBRIC, mode="pairwise", backend=fake, strategy="vote", strategy_options=options, meta=meta).score([PAIR])
    detail = judgment.verdicts[0].detail
    assert all(s["meta"] is not None for s in detail["samples"])
    assert detail["voters"] == 2 and sum(s["voted"] for s in detail["samples"]) == 2
    assert all(s["meta"] > 0.5 for s in detail["samples"] if s["voted"])  # the best rated voted
    assert judgment.preferred == 1 and detail["agreement"] == 1.0
    assert judgment.setup["meta"]["rubric"] == meta.rubric.name
    # 6 samples sent; 6 meta ratings, of which only 2 differ (one per order): the rest deduplicated
    assert (judgment.usage.requests, judgment.usage.cached_requests) == (8, 4)


def test_meta_top_without_a_meta_rm_is_refused_when_compiled():
    from judge.errors import JudgeError

    with pytest.raises(JudgeError, match="--meta-rm"):
        Judge(RUBRIC, mode="pairwise", backend=FakeBackend(), strategy="vote", strategy_options=StrategyOptions(samples=4, meta_top=2))
