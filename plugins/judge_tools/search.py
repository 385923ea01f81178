"""The `search` tool: passages for a query, from a local BM25 index or a search service over HTTP.

The index is built once (`judge index build DOCS -o INDEX`) and opened read-only per call; a
service (SearxNG by default) is set with `search.url`. Exactly one of the two is configured.

Not `deterministic`: results are not kept in the call cache, because the cache key sees the
settings (the index's path, the service's URL) but not the index's contents or the web's, so a
rebuilt index or a changed page would be answered from a stale entry; and a query of the local
index costs milliseconds, no more than the cache would save.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from judge.tools import Tool, ToolRefused

NOT_CONFIGURED = ("no index or url configured: build one with `judge index build DOCS -o INDEX` and pass "
                  "--tool-option search.index=INDEX, or --tool-option search.url=URL")
NO_MATCH = "no passages match"
SEARCH_TIME_LIMIT = 30.0  # the backstop; a service's retries stop 5 s before it


class SearchArgs(BaseModel):
    """What the judge asks: a few keywords and how many passages it wants."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500, description="keywords to look for (names, terms, numbers), not a question")
    k: int = Field(3, ge=1, le=10, description="how many passages to return (1 to 10)")


class SearchSettings(BaseModel):
    """What a user configures (`--tool-option search.KEY=VALUE`): an index, or a service and how to read it."""

    model_config = ConfigDict(extra="forbid")

    index: Path | None = Field(None, description="a search index built by `judge index build`")
    url: str | None = Field(None, description="a search service answering JSON, e.g. SearxNG's http://127.0.0.1:8888/search")
    method: Literal["GET", "POST"] = Field("GET", description="GET sends params as a query string, POST as a JSON body")
    params: dict[str, str | int | float | bool] = Field(
        {"q": "{query}", "format": "json"},  # pydantic copies a mutable default per instance
        description='request parameters; "{query}" and "{k}" are filled in (default: SearxNG\'s)')
    headers: dict[str, str] = Field({}, description='extra headers; "{env:NAME}" is read from the environment')
    results_path: str = Field("results", description="dotted path of the list of results in the answer")
    title_field: str = Field("title", description="dotted path of a result's title")
    text_field: str = Field("content", description="dotted path of a result's text")
    source_field: str = Field("url", description="dotted path of a result's source")
    timeout: float = Field(10.0, gt=0, le=25, description="seconds one request to the service may take")
    passage_chars: int = Field(600, ge=100, le=4000, description="characters of a passage shown, around the match")

    @field_validator("index", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        """`-T search.index=~/docs.db` reaches no shell that expands the ~; `=2024` arrives as a number."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return Path(value).expanduser() if isinstance(value, str) else value

    @field_validator("params", "headers", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        """A command line gives a JSON object as text."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object, e.g. {{\"q\": \"{{query}}\"}} ({exc.msg})") from None
        return value


def check(settings: SearchSettings | None) -> str | None:
    """Why the search tool cannot run as configured (the index is opened to see), or None."""
    reason = _misconfigured(settings)
    if reason is None and settings is not None and settings.index is not None:
        from judge_tools.search_index import SearchIndexError, open_index

        try:
            open_index(settings.index).close()
        except SearchIndexError as exc:
            return str(exc)
    return reason


def _misconfigured(settings: SearchSettings | None) -> str | None:
    if settings is None or (settings.index is None and not settings.url):
        return NOT_CONFIGURED
    if settings.index is not None and settings.url:
        return "both search.index and search.url are set: choose one"
    if settings.index is not None:
        return None
    if not settings.url.startswith(("http://", "https://")):
        return f"search.url {settings.url!r} is not an http:// or https:// URL"
    from judge_tools.search_http import missing_env

    missing = missing_env(settings.headers)
    return f"environment variable {missing[0]} is not set (named in search.headers)" if missing else None


def search(args: SearchArgs, *, settings: SearchSettings | None) -> str:
    """Numbered passages for the judge, or `no passages match`."""
    reason = _misconfigured(settings)
    if reason is not None:
        raise ToolRefused(reason)
    assert settings is not None
    if settings.index is not None:
        from judge_tools.search_index import SearchIndexError, search_index

        try:
            passages = search_index(settings.index, args.query, args.k, snippet_chars=settings.passage_chars)
        except SearchIndexError as exc:
            raise ToolRefused(str(exc)) from None
    else:
        from judge_tools.search_http import search_service

        passages = search_service(
            settings.url, args.query, args.k, method=settings.method, params=settings.params, headers=settings.headers,
            results_path=settings.results_path, title_field=settings.title_field, text_field=settings.text_field,
            source_field=settings.source_field, timeout=settings.timeout, deadline=SEARCH_TIME_LIMIT - 5,
            snippet_chars=settings.passage_chars)
    return format_passages(passages)


def format_passages(passages: list[Any]) -> str:
    """"[1] (source) title" then the text, per passage; `no passages match` for none."""
    if not passages:
        return NO_MATCH
    blocks = []
    for number, passage in enumerate(passages, 1):
        head = " ".join(part for part in (f"[{number}]", f"({passage.source})" if passage.source else "", passage.title) if part)
        blocks.append(f"{head}\n{passage.text}")
    return "\n\n".join(blocks)


SEARCH = Tool(
    name="search",
    description=("Look up passages about a query in a document collection or search engine. Returns up to k passages, "
                 "numbered, each with its source and title. Write a few keywords (names, terms, numbers): each word is "
                 "matched on its own, without operators or quotes."),
    function=search,
    arguments=SearchArgs,
    settings=SearchSettings,
    check=check,
    time_limit=SEARCH_TIME_LIMIT,
    output_cap=8000,
    deterministic=False,
)
