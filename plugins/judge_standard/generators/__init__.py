"""The first-party rubric generators (see judge/generation.py for the contract): SPCT writes
principles for a prompt, OpenRubrics contrasts a preference pair, RLBFF reads feedback."""

from __future__ import annotations

from judge_standard.generators.openrubrics import OPENRUBRICS
from judge_standard.generators.rlbff import RLBFF
from judge_standard.generators.spct import SPCT

GENERATORS = [SPCT, OPENRUBRICS, RLBFF]

__all__ = ["GENERATORS", "OPENRUBRICS", "RLBFF", "SPCT"]
