"""`powerpeg gameday` end to end: a two-experiment suite, its index.html, the history and its trend."""
from __future__ import annotations

import json

import pytest

from tests.e2e.runs import powerpeg

STEADY = """\
name: tiny-steady
description: two v2 routers under light load, no fault
hypothesis: nothing overfills
seed: 3
duration: 3s
topology: {routers: 2, version: v2, symbols: 5}
market: {open_at: 0s}
load: {users: 2, spawn_rate: 4, wait: 200ms}
abort: {max_duration: 10s}
assert: {excess_shares_max: 0}
"""

# v1 routers with rlp-flagged parents and no monitor: the runaway nobody pages about, so ttd_max cannot hold
RUNAWAY = """\
name: tiny-runaway
description: two v1 routers, rlp-flagged parents, no monitor
hypothesis: something pages within a second
seed: 5
duration: 4s
topology: {routers: 2, version: v1, symbols: 5}
market: {open_at: 0s}
load: {users: 2, spawn_rate: 4, wait: 200ms, mix: {rlp_share_after_open: 0.5}}
abort: {max_duration: 10s}
assert: {ttd_max: 1s}
"""

SUITE = """\
title: Tiny game day
participants: [ann, bo]
notes: two runs
experiments:
  - path: steady.yaml
    overrides: {load: {users: 3}}
  - path: runaway.yaml
"""


@pytest.fixture(scope="module")
def gameday(tmp_path_factory):
    root = tmp_path_factory.mktemp("gameday")
    (root / "steady.yaml").write_text(STEADY)
    (root / "runaway.yaml").write_text(RUNAWAY)
    (root / "suite.yaml").write_text(SUITE)
    home = root / "home"
    proc = powerpeg("gameday", str(root / "suite.yaml"), "--out", str(root / "reports"), home=home)
    [day] = list((root / "reports").iterdir())
    return proc, day, home


def test_suite_with_a_failing_run_exits_1(gameday) -> None:
    """One run cannot hold its assertion: the game day exits 1 and both runs are in the summary."""
    proc, _, _ = gameday
    summary = proc.stdout.split("=== game day summary")[-1].splitlines()
    rows = [line.split()[:2] for line in summary if line.startswith("tiny-")]
    assert (1, [["tiny-steady", "PASSED"], ["tiny-runaway", "FAILED"]]) == (proc.returncode, rows), \
        proc.stdout + proc.stderr


def test_one_dated_directory_with_a_subdirectory_per_run(gameday) -> None:
    """gameday-reports/<date>-<slug>/ holds index.html and 01-…, 02-… with each run's reports."""
    _, day, _ = gameday
    names = sorted(p.name for p in day.iterdir())
    assert (["01-tiny-steady", "02-tiny-runaway", "index.html"], True) == \
        (names, all((day / n / "report.html").exists() for n in names[:2]))
    assert day.name.endswith("-tiny-game-day")


def test_index_lists_both_runs_with_pictures_and_links(gameday) -> None:
    """index.html: a row per run with its verdict, a timeline per run, links that resolve."""
    _, day, _ = gameday
    page = (day / "index.html").read_text()
    table = page.split('<table class="runs">')[1].split("</table>")[0]
    links = [href for href in ("01-tiny-steady/report.html", "02-tiny-runaway/report.html")
             if f'href="{href}"' in table]
    assert (2, 2, 2) == (table.count("</tr>") - 1, page.count('<svg class="timeline"'), len(links))
    assert all((day / href).exists() for href in links)


def test_index_table_has_the_game_day_columns(gameday) -> None:
    """The runs table: verdict, the expected verdict, TTD, TTK, TTC, floor, excess shares, loss, human / automated, and
    the report link; the steady run saw no violation and no kill."""
    _, day, _ = gameday
    table = (day / "index.html").read_text().split('<table class="runs">')[1].split("</table>")[0]
    head = [cell.split("</th>")[0] for cell in table.split("</tr>")[0].split("<th>")[1:]]
    steady = table.split("</tr>")[1]
    assert (["experiment", "verdict", "expected", "TTD", "TTK", "TTC", "floor", "excess shares", "loss",
             "human / automated", ""], True) == (head, "TTD — (no violation) · TTK — (no kill)" in steady)


def test_overrides_reached_the_run(gameday) -> None:
    """The suite's `load: {users: 3}` override is what the steady run loaded with (its file says 2)."""
    _, day, _ = gameday
    events = [json.loads(x) for x in (day / "01-tiny-steady" / "events.jsonl").read_text().splitlines() if x.strip()]
    assert [3] == [e["users"] for e in events if e.get("event") == "load_start"]


def test_history_gets_one_line_per_run(gameday) -> None:
    """$POWERPEG_HOME/gameday-history.jsonl: two lines, with status and blast radius."""
    _, day, home = gameday
    lines = [json.loads(x) for x in (home / "gameday-history.jsonl").read_text().splitlines()]
    assert [("tiny-steady", "passed", 0, "Tiny game day"), ("tiny-runaway", "failed", True, "Tiny game day")] == \
        [(e["experiment"], e["status"], e["excess_shares"] if e["status"] == "passed" else e["excess_shares"] > 0,
          e["suite"]) for e in lines]
    assert [str(day / "01-tiny-steady" / "report.html"), str(day / "02-tiny-runaway" / "report.html")] == \
        [e["report"] for e in lines]


def test_history_shows_the_trend_table_and_picture(gameday, tmp_path) -> None:
    """`gameday --history FILE --html OUT`: a table per experiment and an SVG page."""
    _, _, home = gameday
    proc = powerpeg("gameday", "--history", str(home / "gameday-history.jsonl"), "--html", str(tmp_path / "t.html"),
                    home=home)
    page = (tmp_path / "t.html").read_text()
    assert (0, ["tiny-runaway", "tiny-steady"], 4) == \
        (proc.returncode, [line for line in proc.stdout.splitlines() if line.startswith("tiny-")], page.count("<svg"))


def test_history_without_a_file_uses_powerpeg_home(gameday) -> None:
    """`gameday --history` alone reads $POWERPEG_HOME/gameday-history.jsonl."""
    _, _, home = gameday
    proc = powerpeg("gameday", "--history", home=home)
    rows = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  20")]
    assert (0, ["failed", "passed"]) == (proc.returncode, rows)


def test_invalid_suite_exits_2_with_paths_and_runs_nothing(tmp_path) -> None:
    """A bad override: exit 2, the suite path and line, no report directory."""
    (tmp_path / "steady.yaml").write_text(STEADY)
    suite = tmp_path / "suite.yaml"
    suite.write_text("title: Bad\nexperiments:\n  - path: steady.yaml\n    overrides: {load: {users: lots}}\n")
    proc = powerpeg("gameday", str(suite), "--out", str(tmp_path / "reports"), home=tmp_path / "home")
    assert (2, f"{suite}:4: experiments[0].overrides.load.users:", False) == \
        (proc.returncode, proc.stderr.split(" Input")[0], (tmp_path / "reports").exists())
