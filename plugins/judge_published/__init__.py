"""Format packs for published judge models: their own prompts, reproduced, and their own answer rules.

Each pack names in `source` where its prompt was taken from; the templates under prompts/<pack>/
quote it, and tests/fixtures/golden/<pack>/ pins the rendered text. docs/formats.md says, pack by
pack, what is verbatim and what had to be reconstructed.
"""

from __future__ import annotations

from typing import Callable

from judge.formats import FormatPack
from judge.hookspecs import hookimpl
from judge.templates import shipped_prompts_dir
from judge_published.parsers import (
    parse_brrm,
    parse_grm_boxed,
    parse_prometheus_absolute,
    parse_prometheus_relative,
    parse_rewardanything,
    parse_rlbff_genrm,
    parse_rm_r1,
)

PROMETHEUS = "github.com/prometheus-eval/prometheus-eval libs/prometheus-eval/prometheus_eval/prompts.py @ dcfb44272d5d0414832f5dbb8c2a05ebc2614234"
GRM = "arXiv:2504.02495v3 (Liu et al., Inference-Time Scaling for Generalist Reward Modeling), Appendix G 'DeepSeek-GRM (Default)'; layout reconstructed"
BRRM = "github.com/YzjiaoNvd/BR-RM nemo_rl/environments/brrm_environment.py @ 34a58b25732fb49c18a9924802f8313d00abcdb6"
RLBFF = "https://huggingface.co/nvidia/Llama-3.3-Nemotron-70B-Reward-Principle (model card, Quick Start)"
RLBFF_GENRM = "https://huggingface.co/nvidia/Qwen3-Nemotron-32B-GenRM-Principle (model card, Quick Start)"
REWARDANYTHING = "github.com/zhuohaoyu/RewardAnything rewardanything/processing.py @ 552877f62af2233ec0b0361fd8cc69f76a120045"
RM_R1 = "github.com/RM-R1-UIUC/RM-R1 eval/reward-bench/rewardbench/generative.py @ d4c2542f0608e019074b9b2322fe6502e6ab7ab0"


def _packs() -> list[FormatPack]:
    prompts = shipped_prompts_dir()
    return [
        FormatPack(
            name="prometheus",
            description=(
                "Prometheus 2 (prometheus-eval/prometheus-7b-v2.0, 8x7b): absolute grading 1-5 (pointwise, "
                "pointwise:reason) and relative grading A/B (pairwise, pairwise:reason); the verdict is the last "
                "'[RESULT] n' / '[RESULT] A|B' of the reply, or the probabilities read after '[RESULT]'"
            ),
            template_dirs=(prompts / "prometheus",),
            templates={"pointwise": "pointwise.j2", "pointwise:reason": "pointwise.j2",
                       "pairwise": "pairwise.j2", "pairwise:reason": "pairwise.j2"},
            # reason-then-verdict hands its parser only the text after "[RESULT]" (or reads probabilities
            # there): the standard score/choice parsers read that bare verdict
            parsers={"pointwise": "prometheus_absolute", "pairwise": "prometheus_relative",
                     "pointwise:reason": "score", "pairwise:reason": "choice"},
            labels=("A", "B"),
            max_tokens={"pointwise": 1024, "pointwise:reason": 1024, "pairwise": 1024, "pairwise:reason": 1024},
            verdict_marker="[RESULT]",
            answer_prefix=" ",
            source=PROMETHEUS,
        ),
        FormatPack(
            name="deepseek-grm",
            description=(
                "DeepSeek-GRM (BBQGOD/DeepSeek-GRM-16B, -27B): self-written principles and critique, then integer "
                "scores 1-10 per response in the last \\boxed{...} (pairwise: 2..N responses; pointwise: one); read from text"
            ),
            template_dirs=(prompts / "deepseek-grm",),
            templates={"pairwise": "pairwise.j2", "pointwise": "pointwise.j2"},
            parsers={"pairwise": "grm_boxed", "pointwise": "grm_boxed"},
            labels=tuple(str(i) for i in range(1, 11)),
            max_tokens={"pairwise": 2048, "pointwise": 2048},
            scale=(1, 10),
            source=GRM,
        ),
        FormatPack(
            name="brrm",
            description=(
                "BR-RM (nvidia/Qwen3-Nemotron-8B-BRRM, -14B-BRRM), branch-and-rethink, pairwise only: turn 1 picks "
                "1-3 critical dimensions and lists issues (pairwise:turn1), turn 2 rethinks and ends in "
                "'[The Begin of Ranking Score]\\n\\boxed{1|2}\\n[The End of Ranking Score]' (pairwise:turn2, strict)"
            ),
            template_dirs=(prompts / "brrm",),
            templates={"pairwise:turn1": "pairwise_turn1.j2", "pairwise:turn2": "pairwise_turn2.j2"},
            parsers={"pairwise": "brrm"},
            labels=("1", "2"),
            max_tokens={"pairwise:turn1": 4096, "pairwise:turn2": 4096},
            source=BRRM,
        ),
        FormatPack(
            name="rlbff",
            description=(
                "RLBFF scalar RM (nvidia/Llama-3.3-Nemotron-70B-Reward-Principle), principle mode: user prompt, "
                "response, then 'Evaluate the response ... principle: P. Only answer Yes or No.'; P(Yes) vs P(No) "
                "at the first token"
            ),
            template_dirs=(prompts / "rlbff",),
            templates={"principle": "principle.j2"},
            parsers={"principle": "yes_no"},
            max_tokens={"principle": 1},
            source=RLBFF,
        ),
        FormatPack(
            name="rlbff-genrm",
            description=(
                "RLBFF generative RM (nvidia/Qwen3-Nemotron-32B-GenRM-Principle), principle mode: the principle in a "
                "'principle' role turn; the model reasons then answers; the last Yes/No after </think> (principle), "
                "or P(' Yes') vs P(' No') after the reasoning (principle:reason)"
            ),
            template_dirs=(prompts / "rlbff",),
            templates={"principle": "principle_genrm.j2", "principle:reason": "principle_genrm.j2"},
            parsers={"principle": "rlbff_genrm"},
            max_tokens={"principle": 16000, "principle:reason": 16000},
            verdict_marker="Final Judgement:",
            answer_prefix=" ",
            source=RLBFF_GENRM,
        ),
        FormatPack(
            name="rewardanything",
            description=(
                "RewardAnything (zhuohaoyu/RewardAnything-8B-v1), listwise: principle + prompt + responses as "
                "model-1..model-n in its JSON input; reads its JSON scores (1-5) and best-to-worst order"
            ),
            template_dirs=(prompts / "rewardanything",),
            templates={"listwise": "listwise.j2"},
            parsers={"listwise": "rewardanything"},
            max_tokens={"listwise": 4096},
            scale=(1, 5),
            source=REWARDANYTHING,
        ),
        FormatPack(
            name="rm-r1",
            description=(
                "RM-R1 Instruct models (gaotang/RM-R1-Qwen2.5-Instruct-7B/14B/32B), pairwise: rubric- or "
                "solution-first reasoning in tags, verdict '<answer>[[A]]</answer>' or [[B]], read from the text"
            ),
            template_dirs=(prompts / "rm-r1",),
            templates={"pairwise": "pairwise.j2"},
            parsers={"pairwise": "rm_r1"},
            max_tokens={"pairwise": 8192},
            source=RM_R1,
        ),
        FormatPack(
            name="rm-r1-reasoning",
            description=(
                "RM-R1 DeepSeek-distilled models (gaotang/RM-R1-DeepSeek-Distilled-Qwen-7B/14B/32B), pairwise: one "
                "user prompt, no system turn; verdict '<answer>[[A]]</answer>' or [[B]], read from the text"
            ),
            template_dirs=(prompts / "rm-r1",),
            templates={"pairwise": "pairwise_reasoning.j2"},
            parsers={"pairwise": "rm_r1"},
            max_tokens={"pairwise": 8192},
            source=RM_R1,
        ),
    ]


@hookimpl
def register_format_packs(register: Callable[..., None]) -> None:
    for pack in _packs():
        register(pack)


@hookimpl
def register_parsers(register: Callable[..., None]) -> None:
    register("prometheus_absolute", parse_prometheus_absolute, "Prometheus: the last '[RESULT] n', n a point of the 1-5 scale")
    register("prometheus_relative", parse_prometheus_relative, "Prometheus: the last '[RESULT] A' or '[RESULT] B'")
    register("grm_boxed", parse_grm_boxed, "DeepSeek-GRM: integer scores in the last \\boxed{...}, one per shown response")
    register("brrm", parse_brrm, "BR-RM turn 2: the one ranking-score section with \\boxed{1|2}, strictly")
    register("rlbff_genrm", parse_rlbff_genrm, "RLBFF GenRM: the last Yes/No after </think>, or P(Yes) over {Yes, No}")
    register("rewardanything", parse_rewardanything, "RewardAnything: its JSON scores and best-to-worst list, by shown position")
    register("rm_r1", parse_rm_r1, "RM-R1: the final <answer>[[A]]</answer> / [[B]], refusing replies that hold both")
