"""Whether an OpenAI-compatible server takes tools, told from its answers.

A server that takes them answers a request with `tools` and `tool_choice: "auto"` like any
other (2xx). One that does not says so with a 400 or 422: vLLM started without
`--enable-auto-tool-choice` answers '"auto" tool choice requires --enable-auto-tool-choice and
--tool-call-parser to be set', llama.cpp's server without `--jinja` 'tools param requires
--jinja flag', others "tools are not supported" or a rejected unknown field. Only such an answer
is concluded from: a 5xx or a dropped connection says nothing about tools, and any other 4xx
is that request's own error.
"""

from __future__ import annotations

import re
from typing import Any

from judge_openai.transport import Reply

# The one trivial tool of the probe request (OpenAI's function-declaration shape).
PROBE: dict[str, Any] = {
    "type": "function",
    "function": {"name": "ping", "description": "Answers pong.", "parameters": {"type": "object", "properties": {}}},
}

_ABOUT_TOOLS = re.compile(r"tool")
_REFUSAL = re.compile(
    r"not (?:support|enabled|available|allowed|permitted)|unsupported|requires?\b|enable|unknown|"
    r"unrecogni[sz]ed|extra (?:inputs|fields)"
)


def refuses_tools(reply: Reply) -> bool:
    """Whether a definite answer to a request that offered tools says the server does not take them."""
    if reply.status not in {400, 422}:
        return False
    text = reply.body.decode("utf-8", "replace").lower()
    return bool(_ABOUT_TOOLS.search(text) and _REFUSAL.search(text))


def tools_not_accepted(detail: str) -> str:
    """The error of a request with tools to a server that does not take them."""
    return (
        "this server does not accept tools (start vLLM with --enable-auto-tool-choice --tool-call-parser NAME, "
        f"e.g. hermes for Qwen2.5 or Hermes models), so the model cannot call them natively ({detail}); "
        "use a strategy that describes the tools in the prompt"
    )
