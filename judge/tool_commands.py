"""`judge tools`, `judge tool run`, and the subcommands plugins register (`register_commands`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from judge.errors import JudgeError

TOOL_RUN_EXAMPLES = """\
examples:
  judge tool run calculator '{"expression": "1/3 + 1/6"}'
  judge tool run search '{"query": "boiling point of water"}' -T index=docs.idx
  judge tool run code '{"code": "print(sum(range(10)))"}'

exit status: 0 for a result (printed on stdout); 1 for a refusal, a failure or a time-out (one
line on stderr); 2 when the tool or its options are wrong.
"""


def add_tool_parsers(commands: Any) -> None:
    tools = commands.add_parser("tools", help="list the tools a judge can call (-s tools), their arguments and settings",
                                description="List the installed tools: name, plugin, description, argument schema, "
                                "settings, and whether each can run here as configured.")
    tools.add_argument("-T", "--tool-option", action="append", default=[], metavar="TOOL.KEY=VALUE",
                       help="a tool's setting, to check it as configured, e.g. -T search.index=docs.idx")
    tools.add_argument("--json", action="store_true", help="print JSON instead of text")
    tools.set_defaults(run=_list_tools)

    tool = commands.add_parser("tool", help="run one tool directly, as the judge would call it",
                               description="Run a tool by name with JSON arguments: the same function the tools strategy calls.")
    actions = tool.add_subparsers(dest="tool_command", metavar="ACTION", required=True, help="run: run one tool with JSON arguments")
    run = actions.add_parser("run", help="run a tool: judge tool run NAME 'JSON-ARGS'", epilog=TOOL_RUN_EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Run a tool with JSON arguments and print its result.")
    run.add_argument("name", help="the tool's name (see `judge tools`)")
    run.add_argument("arguments", nargs="?", default="{}", help="the arguments as one JSON object (default {}); '-' reads stdin")
    run.add_argument("-T", "--tool-option", action="append", default=[], metavar="KEY=VALUE",
                     help="a setting of this tool, repeatable, e.g. -T index=docs.idx (TOOL.KEY=VALUE works too)")
    run.add_argument("--json", action="store_true", help="print the whole result (status, output, seconds) as JSON")
    run.set_defaults(run=_run_tool)


def add_plugin_commands(commands: Any) -> None:
    """Subcommands registered by plugins; a name a built-in command holds stays the built-in's."""
    from judge.plugins import get_registry

    registry = get_registry().load()
    taken = set(commands.choices)
    for entry in registry.entries("commands"):
        command = entry.value
        if entry.name in taken:
            continue
        parser = commands.add_parser(entry.name, help=getattr(command, "help", ""),
                                     description=getattr(command, "description", None) or getattr(command, "help", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(parser)
        parser.set_defaults(run=command.run)


def _list_tools(args: argparse.Namespace) -> int:
    from judge.plugins import get_registry
    from judge.tools import Tool, configure, not_ready, tool_options

    registry = get_registry().load()
    options = tool_options(args.tool_option)
    rows = []
    for entry in registry.entries("tools"):
        tool = entry.value
        if not isinstance(tool, Tool):
            rows.append({"name": entry.name, "plugin": entry.plugin, "problem": f"registered a {type(tool).__name__}, not a Tool"})
            continue
        try:
            settings = configure(tool, options.get(entry.name))
            reason = not_ready(tool, settings)
        except JudgeError as exc:
            reason = str(exc)
        rows.append({
            "name": entry.name, "plugin": entry.plugin, "description": tool.description, "arguments": tool.schema(),
            "settings": tool.settings.model_json_schema().get("properties", {}) if tool.settings is not None else {},
            "time_limit": tool.time_limit, "output_cap": tool.output_cap, "deterministic": tool.deterministic,
            "ready": reason is None, "problem": reason,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no tools are installed")
    for row in rows:
        if "description" not in row:
            print(f"{row['name']}  (plugin {row['plugin']})\n    PROBLEM: {row['problem']}")
            continue
        state = "ready" if row["ready"] else f"NOT READY: {row['problem']}"
        print(f"{row['name']}  (plugin {row['plugin']}; {state})")
        print(f"    {row['description']}")
        for name, field in row["arguments"].get("properties", {}).items():
            required = "" if name in row["arguments"].get("required", []) else " (optional)"
            print(f"    argument {name}: {_kind(field)}{required}  {field.get('description', '')}".rstrip())
        for name, field in row["settings"].items():
            default = f" = {json.dumps(field['default'])}" if "default" in field else ""
            print(f"    setting  {name}{default}  {field.get('description', '')}".rstrip())
        print(f"    limit {row['time_limit']:g} s, output up to {row['output_cap']} characters{', cached' if row['deterministic'] else ''}")
    return 0


def _kind(field: dict[str, Any]) -> str:
    if "type" in field:
        return str(field["type"])
    kinds = [str(option.get("type")) for option in field.get("anyOf", []) if "type" in option]
    return " | ".join(kinds) or "any"


def _run_tool(args: argparse.Namespace) -> int:
    from judge.plugins import get_registry
    from judge.tools import build_toolbox, tool_options

    registry = get_registry().load()
    given = [pair if pair.split("=", 1)[0].startswith(f"{args.name}.") else f"{args.name}.{pair}" for pair in args.tool_option]
    box = build_toolbox(registry, [args.name], tool_options(given))
    arguments = sys.stdin.read() if args.arguments == "-" else args.arguments
    result = asyncio.run(box.call(args.name, arguments))
    if args.json:
        print(result.model_dump_json(indent=2))
    elif result.ok:
        print(result.output)
    else:
        print(f"judge tool: {args.name}: {result.status.value}: {result.output}", file=sys.stderr)
    return 0 if result.ok else 1
