"""judge: a rubric- and principle-driven judge engine for generative reward models.

    from judge import Judge, load_rubric, Item
    judge = Judge(load_rubric("helpfulness"))
    judgments = judge.score([Item(id="1", prompt="2+2?", responses=["4"])])
"""

from judge.backend import Backend, Capabilities, Completion, Request, SamplingParams
from judge.engine import Judge, make_backend
from judge.errors import BackendError, InputError, JudgeError, PluginError, RubricError, TemplateError
from judge.hookspecs import hookimpl
from judge.models import Item, Judgment, Message, Status, Usage, Verdict
from judge.rubric import Criterion, Rubric, load_rubric

__all__ = [
    "Backend", "BackendError", "Capabilities", "Completion", "Criterion", "InputError", "Item", "Judge",
    "JudgeError", "Judgment", "Message", "PluginError", "Request", "Rubric", "RubricError", "SamplingParams",
    "Status", "TemplateError", "Usage", "Verdict", "hookimpl", "load_rubric", "make_backend",
]
