"""The standard strategies: how the judge thinks about one question."""

from judge_standard.strategies.direct import Direct
from judge_standard.strategies.reason import Reason
from judge_standard.strategies.rethink import Rethink
from judge_standard.strategies.tools import Tools
from judge_standard.strategies.vote import Vote

STRATEGIES = (Direct(), Reason(), Rethink(), Vote(), Tools())
