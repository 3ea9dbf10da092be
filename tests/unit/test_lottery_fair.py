"""The lottery's draw is a pure, documented function: a known vector, a short
independent reimplementation (the README's) agreeing with it, fair shares on
fixed seeds, and ``qunbot lottery verify`` recomputing a draw from what was posted."""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from bot.cli import main
from bot.cli_lottery import verify
from sop.lottery import fair

ZERO_SEED = "0" * 64
IDS = ["wxid_c", "wxid_a", "wxid_b", "wxid_d", "wxid_e"]


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_draw() -> Callable[[str, list[str], int], list[str]]:
    """The procedure exactly as README.md prints it (its Python block), apart from sop.lottery.fair."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```python\n(import hashlib, hmac\n.*?)```", text, re.S)
    assert found is not None, "README.md lost its lottery procedure"
    names: dict[str, Any] = {}
    exec(compile(found[1], "README.md", "exec"), names)  # our own file, read to test it
    return cast(Callable[[str, list[str], int], list[str]], names["draw"])


def test_a_known_seed_and_list_give_the_published_hashes_and_winners() -> None:
    assert fair.seed_hash(ZERO_SEED) == (
        "60e05bd1b195af2f94112fa7197a5c88289058840ce7c6df9693756bc6250f55"
    )
    assert fair.canonical(IDS) == ["wxid_a", "wxid_b", "wxid_c", "wxid_d", "wxid_e"]
    assert fair.list_text(IDS) == "wxid_a\nwxid_b\nwxid_c\nwxid_d\nwxid_e\n"
    assert fair.list_hash(IDS) == (
        "29c40d67cb2159b8ec949a6ff27e73d2b5ff576cde1ab012875bedf63f00b231"
    )
    assert fair.draw(ZERO_SEED, IDS, 2) == ["wxid_d", "wxid_e"]
    assert fair.draw_indexes(ZERO_SEED, 5, 2) == [3, 4]


def test_the_readme_procedure_reimplemented_in_a_few_lines_gives_the_same_winners() -> None:
    readme = _readme_draw()
    for i in range(200):
        seed = hashlib.sha256(str(i).encode()).hexdigest()
        ids = [f"wxid_{j:03d}" for j in range(1 + i % 37)]
        k = 1 + i % 5
        assert fair.draw(seed, ids, k) == readme(seed, ids, k)


def test_the_order_and_repeats_of_the_given_list_do_not_matter() -> None:
    seed = fair.new_seed()
    assert fair.draw(seed, IDS, 3) == fair.draw(seed, [*sorted(IDS), "wxid_a", " wxid_b "], 3)


def test_a_different_seed_or_a_different_list_changes_the_result() -> None:
    ids = [f"wxid_{j:03d}" for j in range(100)]
    base = fair.draw(ZERO_SEED, ids, 3)
    assert fair.draw("1" + ZERO_SEED[1:], ids, 3) != base
    assert fair.draw(ZERO_SEED, [*ids, "wxid_new"], 3) != base
    assert fair.list_hash([*ids, "wxid_new"]) != fair.list_hash(ids)


def test_winners_are_distinct_entrants_and_never_more_than_entered() -> None:
    ids = [f"wxid_{j}" for j in range(10)]
    drawn = fair.draw(ZERO_SEED, ids, 10)
    assert sorted(drawn) == sorted(ids)
    assert fair.draw(ZERO_SEED, ids[:2], 5) == fair.draw(ZERO_SEED, ids[:2], 2)
    assert fair.draw(ZERO_SEED, [], 3) == []


def test_each_entrant_wins_about_equally_often_over_a_fixed_set_of_seeds() -> None:
    # Fixed seeds: the counts are the same on every run (no flaky statistics).
    wins: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for i in range(3000):
        seed = hashlib.sha256(f"seed-{i}".encode()).hexdigest()
        drawn = fair.draw(seed, ["a", "b", "c"], 2)
        wins.update(drawn)
        firsts[drawn[0]] += 1
    assert sum(wins.values()) == 6000
    assert all(1850 <= n <= 2150 for n in wins.values()), wins  # 2000 each expected
    assert all(900 <= n <= 1100 for n in firsts.values()), firsts  # 1000 each expected


def test_the_seed_matches_only_its_own_hash() -> None:
    seed = fair.new_seed()
    assert len(seed) == 64 and fair.seed_matches(seed, fair.seed_hash(seed).upper())
    assert not fair.seed_matches(fair.new_seed(), fair.seed_hash(seed))


def _entrants_file(tmp_path: Path, ids: list[str]) -> str:
    path = tmp_path / "entrants.txt"
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return str(path)


def test_verify_recomputes_a_draw_from_the_published_seed_and_list(tmp_path: Path) -> None:
    out = io.StringIO()
    rc = verify(ZERO_SEED, _entrants_file(tmp_path, IDS), 2, fair.seed_hash(ZERO_SEED), out=out)
    assert rc == 0
    text = out.getvalue()
    assert "matches --hash yes" in text
    assert "1. #4 wxid_d" in text and "2. #5 wxid_e" in text
    assert fair.list_hash(IDS) in text


def test_verify_says_so_when_the_seed_is_not_the_promised_one(tmp_path: Path) -> None:
    out = io.StringIO()
    rc = verify(
        fair.new_seed(), _entrants_file(tmp_path, IDS), 2, fair.seed_hash(ZERO_SEED), out=out
    )
    assert rc == 1
    assert "NO: this is not the seed that was promised" in out.getvalue()


def test_qunbot_lottery_verify_needs_no_config_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no bot.yaml here
    path = _entrants_file(tmp_path, IDS)
    rc = main(
        ["lottery", "verify", "--seed", ZERO_SEED, "--entrants", path, "--winners", "2", "--json"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert '"winners": [{"rank": 1, "number": 4, "id": "wxid_d"}' in printed
