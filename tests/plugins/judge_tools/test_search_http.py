"""The search tool over HTTP, against a real server on 127.0.0.1 that answers like SearxNG (and
like other JSON search APIs), and through its faults: 5xx and dropped connections are retried,
4xx, non-JSON bodies and a closed port are refused with a reason that says which."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from judge_tools import search_http
from judge_tools.search import SEARCH, SearchSettings, check

from judge.tools import ToolBox, ToolStatus, configure

SEARXNG = {"query": "x", "number_of_results": 3, "results": [
    {"title": "Paris - <b>Wikipedia</b>", "content": "Paris is the capital &amp; largest city of France.",
     "url": "https://en.wikipedia.org/wiki/Paris", "engine": "wikipedia"},
    {"title": "Paris travel", "content": "Things to do in Paris.", "url": "https://travel.example/paris"},
    {"title": "", "content": "", "url": "https://empty.example"},
    {"title": "Third", "content": "More about Paris.", "url": "https://third.example"},
]}


class Script:
    """What the server answers, one reply per request (the last repeats), and what it was asked."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes, str] | None] = []  # None: drop the connection without answering
        self.requests: list[dict] = []

    def reply(self, status: int = 200, body: object = SEARXNG, content_type: str = "application/json") -> Script:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.replies.append((status, data, content_type))
        return self

    def drop(self) -> Script:
        self.replies.append(None)
        return self


@pytest.fixture()
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            script.requests.append({"method": self.command, "path": url.path, "query": parse_qs(url.query),
                                    "headers": dict(self.headers), "body": body})
            reply = script.replies.pop(0) if len(script.replies) > 1 else script.replies[0]
            if reply is None:
                self.close_connection = True
                return
            status, data, content_type = reply
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/search", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(search_http, "BACKOFF", 0.01)


def call(settings: SearchSettings, arguments: str):
    return asyncio.run(ToolBox(tools={"search": (SEARCH, settings)}).call("search", arguments))


def test_searxng_results_are_mapped_to_numbered_passages(server):
    url, script = server
    script.reply()
    result = call(SearchSettings(url=url), '{"query": "capital of France", "k": 3}')
    assert result.status is ToolStatus.ok, result.output
    assert result.output == ("[1] (https://en.wikipedia.org/wiki/Paris) Paris - Wikipedia\n"
                             "Paris is the capital & largest city of France.\n\n"
                             "[2] (https://travel.example/paris) Paris travel\nThings to do in Paris.\n\n"
                             "[3] (https://third.example) Third\nMore about Paris.")
    [asked] = script.requests
    assert asked["method"] == "GET" and asked["path"] == "/search"
    assert asked["query"] == {"q": ["capital of France"], "format": ["json"]}
    assert len(call(SearchSettings(url=url), '{"query": "Paris", "k": 1}').output.split("\n\n")) == 1


def test_a_custom_mapping_params_and_headers_reach_another_api(server, monkeypatch):
    url, script = server
    monkeypatch.setenv("TEST_SEARCH_KEY", "s3cret")
    script.reply(body={"data": {"items": [{"name": "Doc A", "snippet": "alpha text", "link": {"href": "https://a.example"}},
                                          {"name": "Doc B", "snippet": "beta text", "link": {"href": "https://b.example"}}]}})
    settings = configure(SEARCH, {"url": url, "params": '{"query": "{query}", "count": "{k}", "lang": "en"}',
                                  "headers": '{"X-Api-Key": "{env:TEST_SEARCH_KEY}"}', "results_path": "data.items",
                                  "title_field": "name", "text_field": "snippet", "source_field": "link.href"})
    assert check(settings) is None
    result = call(settings, '{"query": "alpha", "k": 2}')
    assert result.output == "[1] (https://a.example) Doc A\nalpha text\n\n[2] (https://b.example) Doc B\nbeta text"
    [asked] = script.requests
    assert asked["query"] == {"query": ["alpha"], "count": ["2"], "lang": ["en"]}
    assert asked["headers"]["X-Api-Key"] == "s3cret"


def test_post_sends_the_template_as_a_json_body_with_k_as_a_number(server):
    url, script = server
    script.reply(body={"results": [{"title": "T", "content": "c", "url": "u"}]})
    settings = SearchSettings(url=url, method="POST", params={"query": "{query}", "max_results": "{k}"})
    assert call(settings, '{"query": "q", "k": 4}').status is ToolStatus.ok
    assert json.loads(script.requests[0]["body"]) == {"query": "q", "max_results": 4}


def test_a_500_then_success_is_retried(server):
    url, script = server
    script.reply(500, b"oops", "text/plain").reply()
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.ok and result.output.startswith("[1] (https://en.wikipedia.org/wiki/Paris)")
    assert len(script.requests) == 2


def test_a_dropped_connection_and_a_429_are_retried(server):
    url, script = server
    script.drop().reply(429, b"slow down", "text/plain").reply()
    assert call(SearchSettings(url=url), '{"query": "Paris"}').status is ToolStatus.ok
    assert len(script.requests) == 3


def test_retries_stop_after_two_and_the_status_is_named(server):
    url, script = server
    script.reply(503, b"down", "text/plain")
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.refused and len(script.requests) == 3
    assert "failed 3 times" in result.output and "HTTP 503" in result.output and url in result.output
    script.requests.clear()
    assert call(SearchSettings(url=url), '{"query": "Paris"}').status is ToolStatus.refused
    assert len(script.requests) == 3  # nothing remembered: the next call tries again


def test_a_404_is_refused_at_once_with_its_status(server):
    url, script = server
    script.reply(404, b"<html>Not Found</html>", "text/html")
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.refused and len(script.requests) == 1
    assert "HTTP 404" in result.output and url in result.output
    script.replies[:] = []
    script.reply(403, b"Forbidden", "text/plain")
    assert "search.formats" in call(SearchSettings(url=url), '{"query": "Paris"}').output


def test_a_body_that_is_not_json_is_refused(server):
    url, script = server
    script.reply(200, b"<html>results</html>", "text/html")
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.refused
    assert "HTTP 200" in result.output and "not JSON" in result.output and "text/html" in result.output


def test_an_answer_of_the_wrong_shape_names_the_setting(server):
    url, script = server
    script.reply(body={"hits": []})
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.refused and "'results'" in result.output and "hits" in result.output
    empty = call(SearchSettings(url=url, results_path="hits"), '{"query": "Paris"}')
    assert empty.status is ToolStatus.ok and empty.output == "no passages match"
    script.replies[:] = []
    script.reply()
    fields = call(SearchSettings(url=url, text_field="body", title_field="name"), '{"query": "Paris"}')
    assert fields.status is ToolStatus.refused and "search.text_field" in fields.output and "content" in fields.output


def test_a_closed_port_is_refused_clearly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/search"
    result = call(SearchSettings(url=url), '{"query": "Paris"}')
    assert result.status is ToolStatus.refused
    assert result.output.startswith(f"cannot reach the search service at {url}") and "search.url" in result.output


def test_a_missing_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("TEST_SEARCH_ABSENT", raising=False)
    settings = SearchSettings(url="http://127.0.0.1:9/search", headers={"Authorization": "Bearer {env:TEST_SEARCH_ABSENT}"})
    assert "TEST_SEARCH_ABSENT" in check(settings)
    result = call(settings, '{"query": "x"}')
    assert result.status is ToolStatus.refused and "TEST_SEARCH_ABSENT" in result.output


def test_a_params_option_that_is_not_json_is_an_option_error():
    from judge.errors import JudgeError

    with pytest.raises(JudgeError, match="params"):
        configure(SEARCH, {"url": "http://127.0.0.1/search", "params": "q={query}"})
