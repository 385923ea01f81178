"""The search tool over HTTP: a search service that answers JSON (SearxNG by default).

A request is built from a template of parameters ("{query}" and "{k}" filled in), sent as a GET
query string or a POST JSON body, and the answer's list of results (`results_path`) is mapped to
passages by three field paths (title, text, source). A 5xx, a 429 or a dropped connection is
retried at most twice with a short backoff, within one deadline; nothing about a failure is
remembered for the next call. A refused connection (a wrong URL, a service not started), any
other 4xx and a body that is not JSON are refusals whose one-line reason names the URL and status.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from judge.tools import ToolRefused, ToolTimeout
from judge_tools.search_index import Passage, query_terms, snippet

RETRIES = 2
BACKOFF = 0.5  # seconds before the first retry, doubled for the next
MAX_RETRY_AFTER = 5.0  # a longer Retry-After is not waited for
MAX_BODY = 8 * 1024 * 1024  # bytes of an answer read at most
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
ENV = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
TAG = re.compile(r"<[^>]{0,200}>")


def search_service(url: str, query: str, k: int, *, method: str = "GET", params: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None, results_path: str = "results", title_field: str = "title",
                   text_field: str = "content", source_field: str = "url", timeout: float = 10.0, deadline: float = 25.0,
                   snippet_chars: int = 600) -> list[Passage]:
    """The first `k` results the service gives for `query`, as passages."""
    filled = fill_params(params if params is not None else {"q": "{query}", "format": "json"}, query, k)
    data = _ask(url, method, filled, fill_headers(headers or {}), timeout, deadline)
    results = dig(data, results_path)
    if results is None:
        keys = ", ".join(data) if isinstance(data, dict) else type(data).__name__
        raise ToolRefused(f"the answer of {url} has no '{results_path}' (search.results_path); it has: {keys}")
    if not isinstance(results, list):
        raise ToolRefused(f"'{results_path}' in the answer of {url} is a {type(results).__name__}, not a list (search.results_path)")
    passages = []
    for result in results:
        text, title = _plain(dig(result, text_field)), _plain(dig(result, title_field))
        if text or title:
            source = dig(result, source_field)
            passages.append(Passage(text=snippet(text, query_terms(query), snippet_chars), source="" if source is None else str(source),
                                    title=title))
    if results and not passages:
        fields = ", ".join(results[0]) if isinstance(results[0], dict) else type(results[0]).__name__
        raise ToolRefused(f"no result from {url} has '{text_field}' or '{title_field}' (search.text_field, search.title_field); "
                          f"the first has: {fields}")
    return passages[:k]


def fill_params(template: Mapping[str, Any], query: str, k: int) -> dict[str, Any]:
    """The template with "{query}" and "{k}" filled in; a value that is exactly "{k}" becomes the number."""
    filled: dict[str, Any] = {}
    for key, value in template.items():
        if value == "{k}":
            filled[key] = k
        elif isinstance(value, str):
            filled[key] = value.replace("{query}", query).replace("{k}", str(k))
        else:
            filled[key] = value
    return filled


def fill_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with each "{env:NAME}" replaced by that environment variable (keys stay out of settings)."""
    missing = missing_env(headers)
    if missing:
        raise ToolRefused(f"environment variable {missing[0]} is not set (named in search.headers)")
    return {key: ENV.sub(lambda m: os.environ[m.group(1)], value) for key, value in headers.items()}


def missing_env(headers: Mapping[str, str]) -> list[str]:
    """The environment variables the headers name that are not set."""
    return [name for value in headers.values() for name in ENV.findall(value) if name not in os.environ]


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path ("data.items", "0.title"); None where the path leads nowhere."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _plain(value: Any) -> str:
    """A result field as one line of plain text: markup such as <b>highlights</b> removed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    return " ".join(html.unescape(TAG.sub("", value)).split())


def _ask(url: str, method: str, params: dict[str, Any], headers: dict[str, str], timeout: float, deadline: float) -> Any:
    """The JSON answer, retrying only transient faults, all within `deadline` seconds."""
    import httpx

    stop = time.monotonic() + deadline
    request = {"params": params} if method == "GET" else {"json": params}
    problem = ""
    with httpx.Client(follow_redirects=True, headers={"Accept": "application/json", **headers}) as client:
        for attempt in range(RETRIES + 1):
            left = stop - time.monotonic()
            if left <= 0:
                raise ToolTimeout(f"the search service at {url} gave no answer within {deadline:g} s ({problem})")
            wait = BACKOFF * 2**attempt
            try:
                with client.stream(method, url, timeout=min(timeout, left), **request) as response:
                    if response.status_code not in TRANSIENT_STATUS:
                        return _answer(url, response)
                    problem = f"HTTP {response.status_code} {response.reason_phrase}"
                    wait = max(wait, _retry_after(response))
            except httpx.TimeoutException:
                raise ToolTimeout(f"the search service at {url} gave no answer within {min(timeout, left):g} s") from None
            except httpx.ConnectError as exc:
                raise ToolRefused(f"cannot reach the search service at {url} ({exc or 'connection failed'}): "
                                  "is it running, and is search.url right?") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                problem = f"connection dropped: {exc or type(exc).__name__}"
            if attempt < RETRIES and time.monotonic() + wait < stop:
                time.sleep(wait)
            else:
                break
    raise ToolRefused(f"the search service at {url} failed {attempt + 1} times, last with {problem}")


def _answer(url: str, response: Any) -> Any:
    body = bytearray()
    for part in response.iter_bytes():
        body += part
        if len(body) > MAX_BODY:
            raise ToolRefused(f"the answer of {url} is larger than {MAX_BODY // 1024**2} MB")
    status = f"HTTP {response.status_code} {response.reason_phrase}"
    if response.status_code >= 400:
        said = " ".join(body[:200].decode("utf-8", "replace").split())
        hint = " (SearxNG answers 403 when `json` is not in search.formats of its settings.yml)" if response.status_code == 403 else ""
        raise ToolRefused(f"the search service at {url} answered {status}{hint}: {said or 'no body'}")
    try:
        return json.loads(bytes(body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "no content type")
        raise ToolRefused(f"the search service at {url} answered {status} with a body that is not JSON ({kind}); "
                          "does it need format=json in search.params?") from None


def _retry_after(response: Any) -> float:
    try:
        return min(float(response.headers.get("retry-after", 0)), MAX_RETRY_AFTER)
    except ValueError:  # an HTTP date: not worth parsing for a short retry
        return 0.0
