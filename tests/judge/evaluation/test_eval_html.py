"""The HTML report: formatting, chart geometry, escaping, atomic writing, and a real headless
Chromium (Debian's package, driven by Playwright) that opens the file with no network."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from judge.evaluation import charts
from judge.evaluation.html import interval, num, pct, render_html, write_html
from judge.evaluation.report import (
    Calibration,
    CalibrationBin,
    Interval,
    KeyRow,
    LengthBias,
    LengthFlipReport,
    MasterKeyReport,
    Metrics,
    Mistake,
    PositionBias,
    ProtocolReport,
    Report,
    RMBenchMatrix,
    Tally,
    UsageReport,
)

# Untrusted model output: closes the <details>, the cell and the table, then tries a script,
# an image that would make a request, and an element of its own.
HOSTILE = ('</pre></details></td></tr></table><script>window.pwned = 1</script>'
           '<img src="x.png" onerror="window.pwned = 2"><b id="pwned">owned</b> & "quotes" \'too\'')
SETUP_HINT = "bash scripts/setup.sh --test"


def tally(correct: int, n: int, low: float, high: float, ties: int = 0, unparsed: int = 0, error: int = 0) -> Tally:
    return Tally(n=n, correct=correct, wrong=n - correct - ties - unparsed - error, ties=ties, unparsed=unparsed,
                 error=error, accuracy=correct / n, interval=Interval(low=low, high=high))


def full_report() -> Report:
    """Every part present. Intervals are the Wilson 95% bounds of correct/n (z = 1.96), e.g.
    75/100: centre (0.75 + 1.96²/200) / (1 + 1.96²/100) = 0.7408, half-width 0.0838 -> [0.6570, 0.8245]."""
    calibration = Calibration(n=150, ece=0.0423, bins=[
        CalibrationBin(low=0.5, high=0.6, count=40, mean_confidence=0.55, accuracy=0.52),
        CalibrationBin(low=0.6, high=0.7, count=50, mean_confidence=0.65, accuracy=0.61),
        CalibrationBin(low=0.7, high=0.8, count=0),
        CalibrationBin(low=0.8, high=0.9, count=35, mean_confidence=0.85, accuracy=0.80),
        CalibrationBin(low=0.9, high=1.0, count=25, mean_confidence=0.95, accuracy=0.92),
    ])
    subsets = [
        Metrics(name="natural", formats=["pairs"], tally=tally(75, 100, 0.6570, 0.8245),
                position=PositionBias(judged_both_orders=100, consistent=70, consistency=0.70, orders_decided=190,
                                      first_position_wins=114, first_position_win_rate=0.60, order_ties=10),
                length=LengthBias(n=90, judge_prefers_longer=0.70, labels_prefer_longer=0.55)),
        Metrics(name="adversarial_neighbor", formats=["pairs"], tally=tally(30, 50, 0.4618, 0.7239, ties=3, unparsed=2),
                position=PositionBias(judged_both_orders=50, consistent=30, consistency=0.60, orders_decided=96,
                                      first_position_wins=38, first_position_win_rate=0.3958, order_ties=4)),
        Metrics(name="rmbench-chat", formats=["rmbench"], tally=tally(12, 30, 0.2459, 0.5768, error=1),
                position=PositionBias(orders_decided=30, first_position_wins=15, first_position_win_rate=0.5),
                rmbench=RMBenchMatrix(groups=10, hard=0.30, normal=0.40, easy=0.50,
                                      matrix=[[0.4, 0.3, 0.3], [0.5, 0.4, 0.3], [0.5, 0.5, 0.4]])),
    ]
    overall = Metrics(name="overall", formats=["pairs", "rmbench"], tally=tally(117, 180, 0.5778, 0.7159, 3, 2, 1),
                      position=PositionBias(judged_both_orders=150, consistent=100, consistency=100 / 150,
                                            orders_decided=316, first_position_wins=167, first_position_win_rate=167 / 316),
                      calibration=calibration, length=LengthBias(n=90, judge_prefers_longer=0.70, labels_prefer_longer=0.55))
    return Report(
        created="2025-06-01T12:00:00+00:00", judgments="out/judgments.jsonl", data=["llmbar/natural.jsonl", "rmbench.jsonl"],
        seed=7, model="SmolLM2-135M-Instruct", setup={"mode": "pairwise", "rubric": "helpfulness", "both_orders": True},
        overall=overall, subsets=subsets,
        usage=UsageReport(judgments=330, prompt_tokens=123456, completion_tokens=4567, model_calls=330, cached_calls=12,
                          wall_s=41.2, items_per_s=8.01),
        protocol=ProtocolReport(name="rewardbench", description="RewardBench's generative-judge protocol",
                                subsets={"natural": 0.74, "rmbench-chat": 0.41}, sections={"chat": 0.74, "chat-hard": 0.41},
                                score=0.575, notes=["a parse failure scores 0.5"]),
        master_keys=MasterKeyReport(mode="pointwise", rule="score above the rubric's midpoint", rows=[
            KeyRow(key=" ", category="punctuation", n=20, false_positives=3, rate=0.15),
            KeyRow(key=":", category="punctuation", n=20, false_positives=8, rate=0.40),
            KeyRow(key="Thought process:", category="reasoning opener", n=20, false_positives=11, rate=0.55, unparsed=1),
        ], overall=KeyRow(key="all keys", category="—", n=60, false_positives=22, rate=22 / 60, unparsed=1)),
        length_flips=LengthFlipReport(pairs=40, flipped=6, flipped_to_padded=5, flip_rate=0.15,
                                      padded_win_rate_before=0.20, padded_win_rate_after=0.325),
        mistakes=[
            Mistake(unit="natural/12", subset="natural", outcome="wrong", confidence=0.08, label=0, preferred=1,
                    scores=[0.08, 0.92], raw=[HOSTILE, "Output (b) is better. [[B]]"]),
            Mistake(unit="adversarial_neighbor/3", subset="adversarial_neighbor", outcome="unparsed", label=1,
                    scores=[None, None], raw=["I cannot decide."]),
            Mistake(unit="rmbench-chat/4#c0r2", subset="rmbench-chat", outcome="error", label=0, error="backend timed out"),
        ],
        notes=["both orders judged"],
    )


def minimal_report() -> Report:
    """Only what every run has: 6 of 10 correct (1 tie), Wilson [0.3127, 0.8318]; everything optional missing."""
    return Report(created="2025-06-01T12:00:00+00:00", judgments="j.jsonl",
                  overall=Metrics(name="overall", tally=tally(6, 10, 0.3127, 0.8318, ties=1)))


MINIMAL_MISSING = {
    "position bias: not measured (no pairwise judgment was decided)",
    "calibration: not measured (the judge gave no probabilities)",
    "RM-Bench: not measured (no RM-Bench data in this run)",
    "protocol: not measured (run with --protocol rewardbench for the leaderboard's own figures)",
    "length bias: not measured (no decided two-response unit with responses of different lengths)",
    "length flips: not measured (the length suite was not run)",
    "master keys: not measured (the master-key suite was not run)",
    "mistakes: not listed in this report",
}


# ---- without a browser ------------------------------------------------------------------------

def test_numbers_are_formatted_for_people():
    assert pct(0.7251) == "72.5%" and pct(1 / 3) == "33.3%" and pct(None) == "—"
    assert interval(Interval(low=0.657, high=0.8245)) == "[65.7%, 82.5%]" and interval(None) == "—"
    assert num(123456) == "123,456" and num(8.014) == "8.01" and num(None) == "—"


def test_accuracy_chart_geometry_is_hand_computed():
    chart = charts.accuracy_chart([full_report().subsets[0]])
    [bar] = [s for s in chart.shapes if s.kind == "rect"]
    # plot from x=190, 420 wide: accuracy 0.75 -> width 0.75 * 420 = 315
    assert bar.attrs["x"] == "190" and bar.attrs["width"] == "315"
    whisker = [s for s in chart.shapes if s.cls == "whisker"][0]
    # interval [0.6570, 0.8245] -> x1 = 190 + 0.657 * 420 = 465.94, x2 = 190 + 0.8245 * 420 = 536.29
    assert (whisker.attrs["x1"], whisker.attrs["x2"]) == ("465.9", "536.3")
    [chance] = [s for s in chart.shapes if s.cls == "reference"]
    assert chance.attrs["x1"] == "400"  # 190 + 0.5 * 420


def test_calibration_chart_puts_bins_on_the_reliability_axes():
    chart = charts.calibration_chart(full_report().overall.calibration)
    bins = [s for s in chart.shapes if s.cls == "bin"]
    assert len(bins) == 4  # the empty bin (count 0) is not drawn
    # x = 56 + (confidence - 0.5) * 2 * 300, y = 24 + (1 - accuracy) * 300: (0.65, 0.61) -> (146, 141)
    assert (bins[1].attrs["cx"], bins[1].attrs["cy"]) == ("146", "141")
    # radius 3 + 9 * sqrt(count / largest): the largest bin (50) gets 12, a 25-count bin 3 + 9 * 0.7071 = 9.36
    assert bins[1].attrs["r"] == "12" and bins[3].attrs["r"] == "9.4"


def test_hostile_judge_text_is_escaped_and_the_page_names_no_url():
    html = render_html(full_report())
    assert "<script" not in html and '<b id="pwned">' not in html and "<img" not in html
    assert "&lt;/details&gt;&lt;/td&gt;" in html and "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"<[a-z][^>]*\s(src|href)=", html)  # no tag loads anything
    assert "[65.7%, 82.5%]" in html and "72.5%" not in html  # natural: 75.0% with its interval


def test_minimal_report_says_what_was_not_measured():
    html = render_html(minimal_report())
    for line in MINIMAL_MISSING:
        assert line.replace("'", "&#39;") in html, line
    assert 'id="chart-accuracy"' in html and 'id="chart-position"' not in html and 'id="chart-calibration"' not in html


def test_write_html_replaces_atomically(tmp_path):
    target = tmp_path / "report" / "report.html"
    write_html(minimal_report(), target)
    first = target.read_text(encoding="utf-8")
    write_html(full_report(), target)
    assert target.read_text(encoding="utf-8") != first and "natural/12" in target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary file left behind


# ---- in a real browser ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, or the reason there is none (the test says it)."""
    executable = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield f"Playwright's Python package is not installed: run `{SETUP_HINT}` (installs the test extra)"
        return
    if executable is None:
        yield f"chromium is not on PATH: run `{SETUP_HINT}` as root (installs Debian's chromium package)"
        return
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_report(browser, path: Path):
    """The page, with every console error, page error and request it made."""
    if isinstance(browser, str):
        if os.environ.get("JUDGE_ALLOW_NO_BROWSER") == "1":
            pytest.skip(browser)
        pytest.fail(browser, pytrace=False)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if folder := os.environ.get("JUDGE_TEST_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / name)
    return shot


def assert_clean(seen: dict[str, list[str]], path: Path) -> None:
    assert seen["console"] == [] and seen["errors"] == [], seen
    assert seen["requests"] and set(seen["requests"]) == {path.as_uri()}, seen["requests"]


@pytest.mark.slow
def test_full_report_draws_in_chromium(browser, tmp_path):
    report = full_report()
    path = tmp_path / "report.html"
    write_html(report, path)
    page, seen = open_report(browser, path)
    try:
        assert_clean(seen, path)
        bars = page.locator("#chart-accuracy rect.bar")
        assert bars.count() == 1 + len(report.subsets)  # overall and one per subset
        for i in range(bars.count()):
            box = bars.nth(i).bounding_box()
            assert box is not None and box["width"] > 10 and box["height"] > 5
        labels = page.locator("#chart-accuracy text.row-label").all_text_contents()
        assert labels == ["overall", "natural", "adversarial_neighbor", "rmbench-chat"]
        assert page.locator("#chart-accuracy line.whisker").count() == 3 * 4  # a span and two caps per row
        assert page.locator("#chart-accuracy line.reference").count() == 1
        assert page.locator("#chart-position rect.first-bar").count() == 4 + 1  # 4 rows and the legend
        assert page.locator("#chart-position circle.consistency").count() == 3 + 1  # rmbench-chat: one order only
        assert page.locator("#chart-calibration circle.bin").count() == 4
        assert page.locator("#chart-calibration line.diagonal").count() == 1
        assert "ECE 4.2%" in page.locator("#chart-calibration").text_content()
        # the hostile judge text is text: no script, image or element of its own, nothing ran
        assert page.locator("script").count() == 0 and page.locator("img").count() == 0
        assert page.locator("#pwned").count() == 0 and page.evaluate("() => window.pwned") is None
        assert page.locator("pre.raw").first.text_content() == HOSTILE
        assert page.locator("#mistake-table tbody tr").count() == 3 and page.locator("details").count() == 2
        assert page.locator("#master-key-table tbody tr").count() == 3
        assert page.locator("#master-key-table tbody tr").first.locator("td").first.text_content() == '" "'
        assert page.locator("table.matrix td").count() == 9
        assert page.locator("table.matrix td.hard").all_text_contents() == ["30.0%", "30.0%", "30.0%"]
        assert "57.5%" in page.locator("#protocol").text_content()
        assert page.locator("#length-flips td").all_text_contents()[3] == "15.0%"
        assert page.locator(".not-measured").count() == 0
        page.locator("details summary").first.click()  # show the hostile text in the screenshot
        shot = screenshot(page, tmp_path, "eval-report-full.png")
    finally:
        page.close()
    assert shot.stat().st_size > 60_000, shot.stat().st_size


@pytest.mark.slow
def test_minimal_report_renders_its_gaps_in_chromium(browser, tmp_path):
    path = tmp_path / "minimal.html"
    write_html(minimal_report(), path)
    page, seen = open_report(browser, path)
    try:
        assert_clean(seen, path)
        assert set(page.locator(".not-measured").all_text_contents()) == MINIMAL_MISSING
        assert page.locator("#chart-accuracy rect.bar").count() == 1
        assert page.locator("#chart-position").count() == 0 and page.locator("#chart-calibration").count() == 0
        assert "60.0%" in page.locator("#overall").text_content()
        shot = screenshot(page, tmp_path, "eval-report-minimal.png")
    finally:
        page.close()
    assert shot.stat().st_size > 20_000, shot.stat().st_size
