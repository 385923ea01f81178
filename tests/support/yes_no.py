"""Answers of a fake principle judge (the in-process fake backend's responder): a verdict with an
exact P(Yes), or one that cannot be read. Shared by the reward, adapter and server tests."""

from __future__ import annotations

import math
from collections.abc import Callable

from judge.backend import Completion, Request
from judge.models import Usage


def p_yes(p: float) -> Completion:
    """A Yes/No verdict whose exact probabilities give P(Yes) = p."""
    return Completion(texts=["Yes"], finish_reasons=["stop"], usage=Usage(requests=1),
                      candidate_logprobs={"Yes": math.log(p), "No": math.log(1 - p)})


def unreadable() -> Completion:
    """A verdict with no probabilities: the judgment is unparsed."""
    return Completion(texts=["?"], finish_reasons=["stop"], usage=Usage(requests=1))


def judge_that_sees(words: str, found: float, otherwise: float) -> Callable[[Request], Completion]:
    """P(Yes) = `found` when `words` are in the request's messages, else `otherwise`; a request
    showing 'garbled' gets an unreadable verdict."""

    def answer(request: Request) -> Completion:
        shown = str(request.messages)
        if "garbled" in shown:
            return unreadable()
        return p_yes(found if words in shown else otherwise)

    return answer
