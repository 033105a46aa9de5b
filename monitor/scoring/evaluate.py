"""Accuracy against the VADER paper's human-rated corpora (shared/data/vader-groundtruth).

Used by bench/scoring.py and the regression test. The method is the paper's, as
reconstructed in shared/notes/vader.md §3.2: Pearson r against the human mean, and the
sign of the human mean as the class for 3-class accuracy and support-weighted F1. A
second reading puts abs(mean) < 0.2 in a neutral band and reports macro-F1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CORPORA = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
CLASSES = (1, 0, -1)
_FIELDS = "expected 3 tab-separated fields (id, mean, text)"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    mean: float  # human mean on -4..+4
    text: str


@dataclass(frozen=True, slots=True)
class Accuracy:
    n: int
    r: float
    accuracy: float  # GT sign
    weighted_f1: float  # GT sign
    macro_f1_band: float  # GT neutral band abs(mean) < 0.2


class CorpusError(ValueError):
    """Input that cannot be measured. The message is one line, for a command to print."""


def load_corpus(directory: Path, name: str) -> list[Item]:
    """Rows are ``id TAB mean TAB text`` with CRLF endings (see the data README)."""
    path = directory / CORPORA[name]
    lines = path.read_text(encoding="utf-8").splitlines()
    items = [_row(line, f"{path}:{number}") for number, line in enumerate(lines, start=1)]
    if not items:
        # Named here: measure() only sees the empty list, not which file it came from.
        raise CorpusError(f"{path}: no rows; each line is id TAB mean TAB text")
    return items


def _row(line: str, where: str) -> Item:
    """One ``id TAB mean TAB text`` row; ``where`` is ``path:line`` for the message."""
    if not line:
        raise CorpusError(f"{where}: blank line; {_FIELDS}")
    fields = line.split("\t", 2)
    if len(fields) != 3:
        raise CorpusError(f"{where}: {_FIELDS}, got {len(fields)}")
    ident, mean, text = fields
    try:
        value = float(mean)
    except ValueError:
        raise CorpusError(f"{where}: mean {mean!r} is not a number") from None
    if not math.isfinite(value):
        # float() takes "nan" and "inf"; either would turn r into nan without a word.
        raise CorpusError(f"{where}: mean {mean!r} is not a finite number")
    return Item(ident, value, text)


def predicted_class(compound: float, threshold: float = 0.05) -> int:
    return 1 if compound >= threshold else -1 if compound <= -threshold else 0


def human_class(mean: float, band: float = 0.0) -> int:
    """The sign of the human mean; 0 for an exact 0 or abs(mean) < band. The band's edge
    is not neutral: it is the paper's ±0.05 on mean/4, inclusive as predicted_class is
    (and ±0.2 is a common mean: 2 of 10 raters one point up)."""
    if mean == 0 or abs(mean) < band:
        return 0
    return 1 if mean > 0 else -1


def measure(items: Sequence[Item], compounds: Sequence[float]) -> Accuracy:
    if not items:
        raise CorpusError("no items to measure")  # every metric below divides by n
    means = [item.mean for item in items]
    predicted = [predicted_class(c) for c in compounds]
    by_sign = [human_class(m) for m in means]
    by_band = [human_class(m, band=0.2) for m in means]
    hits = sum(p == t for p, t in zip(predicted, by_sign, strict=True))
    return Accuracy(
        n=len(items),
        r=pearson(compounds, means),
        accuracy=hits / len(items),
        weighted_f1=_f1(by_sign, predicted, weighted=True),
        macro_f1_band=_f1(by_band, predicted, weighted=False),
    )


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    if not n:
        raise ValueError("correlation needs at least one pair of values")
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def _f1(truth: Sequence[int], predicted: Sequence[int], *, weighted: bool) -> float:
    """Per-class F1 over the classes the humans or the scorer used, averaged by support
    (weighted) or plainly (macro).

    As scikit-learn, against which shared/notes/vader.md §3.2 checked these figures: a
    class only the scorer used has F1 0. It lowers macro-F1, since inventing a class the
    humans never gave is an error, and has no weight in the weighted average.
    """
    support = Counter(truth)
    used = support.keys() | set(predicted)
    scores: list[tuple[float, int]] = []
    for cls in CLASSES:
        if cls not in used:
            continue
        tp = sum(t == cls and p == cls for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != cls and p == cls for t, p in zip(truth, predicted, strict=True))
        fn = support[cls] - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        scores.append((f1, support[cls]))
    if weighted:
        return sum(f1 * s for f1, s in scores) / sum(s for _, s in scores)
    return sum(f1 for f1, _ in scores) / len(scores)
