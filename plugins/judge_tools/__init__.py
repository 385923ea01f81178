"""The first-party tools: calculator (sympy, no eval), search (a BM25 index or a search service)
and code (Python in a bubblewrap sandbox), and the math answer verifier that shares the
calculator's sympy workers. They register like any third-party tool package.

Each tool's module is imported only when the registry is built, and each keeps its heavy imports
(sympy, the index, the sandbox) inside its function.
"""

from __future__ import annotations

from typing import Callable

from judge.hookspecs import hookimpl


@hookimpl
def register_tools(register: Callable[..., None]) -> None:
    from judge_tools.calculator import CALCULATOR
    from judge_tools.code import CODE
    from judge_tools.search import SEARCH

    for tool in (CALCULATOR, SEARCH, CODE):
        register(tool)


@hookimpl
def register_verifiers(register: Callable[..., None]) -> None:
    from judge_tools.math_answer import MATH_ANSWER  # shares the calculator's sympy workers

    register(MATH_ANSWER)


@hookimpl
def register_commands(register: Callable[..., None]) -> None:
    from judge_tools.index_command import INDEX_COMMAND

    register(INDEX_COMMAND)
