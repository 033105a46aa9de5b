"""monitor/scoring/evaluate.py on small hand-made inputs: bad corpora give one clear
message, and the metrics match values computed by hand. Needs no shared data."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from monitor.scoring.evaluate import (
    CORPORA,
    CorpusError,
    Item,
    load_corpus,
    measure,
    pearson,
)
from tests.conftest import REPO


def bench_scoring() -> ModuleType:
    """bench/scoring.py as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_scoring", REPO / "bench" / "scoring.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tweets(directory: Path, content: str) -> Path:
    path = directory / CORPORA["tweets"]
    path.write_bytes(content.encode("utf-8"))
    return path


def test_measuring_no_items_is_a_clear_error() -> None:
    with pytest.raises(CorpusError) as raised:
        measure([], [])
    assert str(raised.value) == "no items to measure"


def test_correlating_no_values_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"^correlation needs at least one pair of values$"):
        pearson([], [])


def test_an_empty_corpus_file_is_named(tmp_path: Path) -> None:
    path = write_tweets(tmp_path, "")
    with pytest.raises(CorpusError) as raised:
        load_corpus(tmp_path, "tweets")
    assert str(raised.value) == f"{path}: no rows; each line is id TAB mean TAB text"


def test_the_benchmark_stops_on_an_empty_corpus_with_one_line(tmp_path: Path) -> None:
    path = write_tweets(tmp_path, "")
    with pytest.raises(SystemExit) as raised:
        bench_scoring().load_all(tmp_path)
    # SystemExit with a string: Python prints it to stderr, no traceback, and exits 1.
    assert raised.value.code == f"{path}: no rows; each line is id TAB mean TAB text"


FIELDS = "expected 3 tab-separated fields (id, mean, text)"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("1\t0.5\tgood\r\nno tabs at all\r\n", f"2: {FIELDS}, got 1"),
        ("1\t0.5\r\n", f"1: {FIELDS}, got 2"),
        ("1\t0.5\tgood\r\n\r\n2\t1.0\tfine", f"2: blank line; {FIELDS}"),
        ("1\thigh\tgood", "1: mean 'high' is not a number"),
        ("1\t0.5\tgood\r\n2\t1,5\tfine", "2: mean '1,5' is not a number"),
        ("1\tnan\tgood", "1: mean 'nan' is not a finite number"),
        ("1\t-inf\tgood", "1: mean '-inf' is not a finite number"),
    ],
)
def test_a_malformed_row_names_the_file_and_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = write_tweets(tmp_path, content)
    with pytest.raises(CorpusError) as raised:
        load_corpus(tmp_path, "tweets")
    assert str(raised.value) == f"{path}:{problem}"


def test_the_benchmark_stops_on_a_malformed_row_with_one_line(tmp_path: Path) -> None:
    path = write_tweets(tmp_path, "1\t0.5\tgood\r\n2\thigh\tfine")
    with pytest.raises(SystemExit) as raised:
        bench_scoring().load_all(tmp_path)
    assert raised.value.code == f"{path}:2: mean 'high' is not a number"


def test_macro_f1_counts_a_class_only_the_scorer_used() -> None:
    # As scikit-learn: the humans rate two positive and two negative, the scorer calls
    # one positive neutral. Positive F1 = 2*1/(2*1 + 0 + 1) = 2/3, negative F1 = 1, and
    # neutral, never the truth but predicted once, F1 = 0. Macro averages all three;
    # weighted gives neutral no weight, as it has no support.
    items = [Item("1", 2.0, "a"), Item("2", 1.0, "b"), Item("3", -2.0, "c"), Item("4", -1.0, "d")]
    result = measure(items, [0.5, 0.0, -0.5, -0.5])
    assert result.macro_f1_band == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert result.weighted_f1 == pytest.approx((2 / 3 * 2 + 1 * 2) / 4)


def test_macro_f1_leaves_out_a_class_nobody_used() -> None:
    items = [Item("1", 2.0, "a"), Item("2", -2.0, "b")]
    assert measure(items, [0.5, -0.5]).macro_f1_band == 1.0
