"""Whole-candidate scoring: log P(the answer is exactly this text, then the end of its turn).

Each candidate is one row, prompt + the candidate's tokens + the end-of-turn token (ids from
`judge.tokens.whole_candidate_ids`), and all rows of a batch go through the model in one forward
pass. Rows are left-padded, with the attention mask and position ids an unpadded row would
have, so every row ends in the last column and the positions that predict the scored tokens are
the last few: only those columns' logits are computed (`logits_to_keep`), never a whole
sequence's over the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScoringRows:
    """One forward pass's tensors, made outside the model lock and already on the device."""

    input_ids: Any
    attention_mask: Any
    position_ids: Any
    targets: Any  # (rows, keep - 1): the scored ids, right-aligned; 0 where nothing is scored
    scored: Any  # (rows, keep - 1) bool: which of `targets` count
    keep: int  # columns of logits computed: the longest scored part, plus the prompt's last position
    lengths: list[int]  # scored ids per row


def scoring_rows(prompts: list[list[int]], tails: list[list[int]], pad_id: int, device: Any) -> ScoringRows:
    """Rows prompt + tail, left-padded; `tails[i]` are the ids whose log-probabilities are summed."""
    import torch

    rows = [prompt + tail for prompt, tail in zip(prompts, tails)]
    width = max(len(row) for row in rows)
    keep = max(len(tail) for tail in tails) + 1
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.zeros((len(rows), keep - 1), dtype=torch.long)
    scored = torch.zeros((len(rows), keep - 1), dtype=torch.bool)
    for index, (row, tail) in enumerate(zip(rows, tails)):
        input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[index, width - len(row) :] = 1
        if tail:
            targets[index, keep - 1 - len(tail) :] = torch.tensor(tail, dtype=torch.long)
            scored[index, keep - 1 - len(tail) :] = True
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # what each row alone would have
    return ScoringRows(
        input_ids.to(device), mask.to(device), positions.to(device), targets.to(device), scored.to(device),
        keep, [len(tail) for tail in tails],
    )


def score(model: Any, rows: ScoringRows) -> tuple[list[float], list[int]]:
    """Each row's summed log-probability of its scored ids, and its greedy next token after the
    prompt (what a one-token greedy generation of that prompt gives), read back in one transfer."""
    import torch

    with torch.inference_mode():
        logits = model(
            input_ids=rows.input_ids,
            attention_mask=rows.attention_mask,
            position_ids=rows.position_ids,
            logits_to_keep=rows.keep,
        ).logits.float()
        predicting = logits[:, :-1]  # column j predicts the id in column j + 1
        chosen = predicting.gather(-1, rows.targets.unsqueeze(-1)).squeeze(-1)
        logprobs = (chosen - torch.logsumexp(predicting, dim=-1)).masked_fill(~rows.scored, 0.0)
        after_prompt = torch.tensor([rows.keep - 1 - n for n in rows.lengths], device=logits.device)
        first = logits[torch.arange(len(rows.lengths), device=logits.device), after_prompt].argmax(dim=-1)
        return logprobs.sum(dim=-1).cpu().tolist(), first.cpu().tolist()
