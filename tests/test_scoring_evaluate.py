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
