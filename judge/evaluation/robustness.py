"""Robustness suites: do content-free "master keys" earn credit, and does padding flip verdicts?

Both suites are extra items beside the benchmark's own (EvalInfo suite "master-keys" and
"length", ids prefixed "mk:" and "len:"), judged in the same run, so that their reports are
computed from the judgments file alone like every other figure.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from pathlib import Path

from judge.errors import JudgeError
from judge.evaluation.datasets import MODES, chosen_first
from judge.evaluation.outcomes import eval_info, judgment_outcome
from judge.evaluation.report import EvalInfo, KeyRow, LengthFlipReport, MasterKeyReport
from judge.models import Item, Judgment, Status, content_text

DATA = Path(__file__).parent / "data"
MASTER_KEYS = DATA / "master_keys.json"
FILLER = DATA / "filler.txt"
LENGTH_FORMATS = ("pairs", "judgebench", "engine")
MAX_PADDING = 400
KEY_RULES = {
    "pointwise": "score above the midpoint (0.5) of the rubric's [0, 1] scale",
    "principle": "P(Yes) > 0.5",
    "pairwise": "the key response is preferred over a real answer",
}
_MK_ID = re.compile(r"^mk:(\d+):")


def load_master_keys(path: str | None = None) -> list[tuple[str, str]]:
    """(category, key) pairs, in the file's order: `{"keys": {category: [key, ...]}}`."""
    where = Path(path) if path is not None else MASTER_KEYS
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise JudgeError(f"{where}: cannot read the master keys: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not all(isinstance(v, list) and all(isinstance(k, str) for k in v) for v in keys.values()):
        raise JudgeError(f"{where}: field 'keys' must be an object of category -> list of strings")
    found = [(category, key) for category, values in keys.items() for key in values]
    if not found:
        raise JudgeError(f"{where}: no master keys")
    return found


def load_filler(path: str | None = None) -> list[str]:
    """Neutral sentences that add no content, one a line."""
    where = Path(path) if path is not None else FILLER
    sentences = [line.strip() for line in where.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not sentences:
        raise JudgeError(f"{where}: no filler sentences")
    return sentences


def _main(items: Iterable[Item]) -> list[tuple[Item, EvalInfo]]:
    return [(item, info) for item in items if (info := eval_info(item)) is not None and info.suite == "main"]


def master_key_items(
    items: list[Item], *, mode: str, prompts: int = 20, keys: list[tuple[str, str]] | None = None, seed: int = 0
) -> list[Item]:
    """Each master key as the response to the prompts of the first `prompts` rows (groups).

    Score modes judge the key alone (label 0). Pairwise mode puts it against the row's chosen
    answer, coin-flipped like the benchmark's pairs; `label` is the real answer's index, so a
    judgment that prefers the key is "wrong".
    """
    if mode not in MODES:
        raise JudgeError(f"unknown mode '{mode}': judge eval runs in {', '.join(MODES)} mode")
    keys = keys if keys is not None else load_master_keys()
    firsts: dict[str, tuple[Item, EvalInfo]] = {}
    for item, info in _main(items):
        if len(firsts) >= prompts:
            break
        firsts.setdefault(info.group, (item, info))
    made: list[Item] = []
    for index, (category, key) in enumerate(keys):
        for group, (item, info) in firsts.items():
            item_id = f"mk:{index}:{group}"
            if mode == "pairwise":
                real = item.responses[info.label]
                label = 0 if chosen_first(seed, item_id) else 1
                responses = [real, key] if label == 0 else [key, real]
            else:
                label, responses = 0, [key]
            lengths = [len(content_text(r)) for r in responses]
            mk = info.model_copy(
                update={"label": label, "lengths": lengths, "pair": None, "suite": "master-keys", "subset": category, "key": key, "key_category": category}
            )
            made.append(Item(id=item_id, prompt=item.prompt, responses=responses, metadata={"eval": mk.model_dump(mode="json")}))
    return made


def master_key_report(judgments: Iterable[Judgment], mode: str) -> MasterKeyReport:
    """False-positive rate per key = credited / decided (status ok) judgments; unparsed and
    errors are counted apart. Rows follow the keys' order (the data file's)."""
    if mode not in KEY_RULES:
        raise JudgeError(f"unknown mode '{mode}': the master-key report reads {', '.join(KEY_RULES)} judgments")
    rows: dict[tuple[str, str], KeyRow] = {}
    order: dict[tuple[str, str], float] = {}
    overall = KeyRow(key="all keys", category="all")
    for judgment in judgments:
        info = eval_info(judgment)
        if info is None or info.suite != "master-keys" or info.key is None:
            continue
        name = (info.key_category or "", info.key)
        row = rows.setdefault(name, KeyRow(key=info.key, category=info.key_category or ""))
        found = _MK_ID.match(judgment.id)
        order[name] = min(order.get(name, float("inf")), int(found.group(1)) if found else float("inf"))
        for tally in (row, overall):
            tally.n += 1
            if judgment.status is Status.error:
                tally.error += 1
            elif judgment.status is Status.unparsed:
                tally.unparsed += 1
            elif _credited(judgment, info, mode):
                tally.false_positives += 1
    ordered = [rows[name] for name in sorted(rows, key=lambda n: order[n])]  # stable: ties keep first-seen order
    for tally in (*ordered, overall):
        decided = tally.n - tally.unparsed - tally.error
        tally.rate = tally.false_positives / decided if decided else None
    return MasterKeyReport(mode=mode, rule=KEY_RULES[mode], rows=ordered, overall=overall if ordered else None)


def _credited(judgment: Judgment, info: EvalInfo, mode: str) -> bool:
    if mode == "pairwise":
        return judgment.preferred == 1 - info.label  # the key's own position
    score = judgment.scores[0] if judgment.scores else None
    return score is not None and score > 0.5


def length_items(items: list[Item], *, seed: int = 0, filler: list[str] | None = None) -> list[Item]:
    """Main two-response items (pairs, judgebench, engine) with the rejected response padded.

    Rule: filler sentences (a seeded shuffle of filler.txt, cycled) are appended to the rejected
    response as one final paragraph ("\\n\\n" + sentences joined by spaces) until the added
    characters reach min(its original length, 400), and at least one sentence: a padded response
    is at least twice as long, or 400 characters longer, whichever is less. Responses that are not
    plain text are left out. Label, group and subset are unchanged; `lengths` are updated.
    """
    sentences = filler if filler is not None else load_filler()
    made: list[Item] = []
    for item, info in _main(items):
        if info.format not in LENGTH_FORMATS or len(item.responses) != 2:
            continue
        rejected = 1 - info.label
        text = item.responses[rejected]
        if not isinstance(text, str):
            continue
        responses = list(item.responses)
        responses[rejected] = text + _padding(min(len(text), MAX_PADDING), random.Random(f"{seed}:len:{item.id}"), sentences)
        lengths = list(info.lengths)
        lengths[rejected] = len(responses[rejected])
        padded = info.model_copy(update={"suite": "length", "lengths": lengths})
        made.append(item.model_copy(update={"id": f"len:{item.id}", "responses": responses, "metadata": {**item.metadata, "eval": padded.model_dump(mode="json")}}))
    return made


def _padding(want: int, rng: random.Random, sentences: list[str]) -> str:
    order = list(sentences)
    rng.shuffle(order)
    added: list[str] = []
    while not added or len(added) + 1 + sum(len(s) for s in added) < want:  # "\n\n" + joined by spaces
        added.append(order[len(added) % len(order)])
    return "\n\n" + " ".join(added)


def length_flip_report(judgments: Iterable[Judgment]) -> LengthFlipReport:
    """Each padded judgment against its original: only pairs where both were decided (correct or
    wrong). A flip is a changed outcome; the padded response wins when the outcome is wrong."""
    main: dict[str, Judgment] = {}
    padded: list[tuple[Judgment, EvalInfo]] = []
    for judgment in judgments:
        info = eval_info(judgment)
        if info is None:
            continue
        if info.suite == "main":
            main[judgment.id] = judgment
        elif info.suite == "length" and judgment.id.startswith("len:"):
            padded.append((judgment, info))
    report = LengthFlipReport()
    before_wins = after_wins = 0
    for judgment, info in padded:
        original = main.get(judgment.id[len("len:") :])
        if original is None:
            continue
        before, after = judgment_outcome(original, info.label), judgment_outcome(judgment, info.label)
        if before not in ("correct", "wrong") or after not in ("correct", "wrong"):
            continue
        report.pairs += 1
        report.flipped += before != after
        report.flipped_to_padded += before == "correct" and after == "wrong"
        before_wins += before == "wrong"
        after_wins += after == "wrong"
    if report.pairs:
        report.flip_rate = report.flipped / report.pairs
        report.padded_win_rate_before = before_wins / report.pairs
        report.padded_win_rate_after = after_wins / report.pairs
    return report
