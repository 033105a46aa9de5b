"""Accuracy floors on the VADER paper's ground truth (../shared/data/vader-groundtruth).

Not a timing test. Floors from issue 4: on tweets r >= 0.87 and weighted F1 >= 0.945
(raw vaderSentiment 3.3.2: 0.872 / 0.948), on Amazon snippets r >= raw VADER's. Our
scorer's unscored mentions count as compound 0.0. A failure here means a change to
preprocessing, the overlay, the language gate or the pinned VADER moved accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.scoring import Scorer
from monitor.scoring.evaluate import Accuracy, Item, load_corpus, measure

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data" / "vader-groundtruth"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def ours(scorer: Scorer, corpus: str) -> Accuracy:
    items = load_corpus(DATA, corpus)
    return measure(items, [scorer.score(item.text).compound for item in items])


def raw(corpus: str) -> Accuracy:
    vader = SentimentIntensityAnalyzer()
    items = load_corpus(DATA, corpus)
    return measure(items, [vader.polarity_scores(item.text)["compound"] for item in items])


def test_tweets_meet_the_paper_floors(scorer: Scorer) -> None:
    result = ours(scorer, "tweets")
    assert result.n == 4_200
    assert result.r >= 0.87
    assert result.weighted_f1 >= 0.945


def test_amazon_correlation_is_not_below_raw_vader(scorer: Scorer) -> None:
    assert ours(scorer, "amazon").r >= raw("amazon").r


def test_every_fourth_tweet_stays_close_to_raw_vader(scorer: Scorer) -> None:
    # A fixed sample guards the same floors with a margin for sampling noise.
    items = load_corpus(DATA, "tweets")[::4]
    vader = SentimentIntensityAnalyzer()
    mine = measure(items, [scorer.score(i.text).compound for i in items])
    base = measure(items, [vader.polarity_scores(i.text)["compound"] for i in items])
    assert mine.r >= base.r - 0.01
    assert mine.weighted_f1 >= base.weighted_f1 - 0.01


def test_metrics_match_hand_computed_values() -> None:
    items = load_corpus(DATA, "tweets")[:4]
    perfect = measure(items, [item.mean / 4 for item in items])
    assert perfect.r == pytest.approx(1.0)
    assert perfect.accuracy == 1.0
    assert perfect.weighted_f1 == 1.0
    flipped = measure(items, [-item.mean / 4 for item in items])
    assert flipped.r == pytest.approx(-1.0)
    assert flipped.accuracy == 0.0


def test_a_human_mean_on_the_band_edge_is_not_neutral() -> None:
    # The band reading is abs(mean/4) >= 0.05 for a class, so abs(mean) < 0.2 is neutral
    # and a mean of exactly ±0.2 (2 of 10 raters one point up) is not.
    items = [Item("1", 0.2, "a"), Item("2", -0.2, "b"), Item("3", 0.1, "c")]
    assert measure(items, [0.5, -0.5, 0.0]).macro_f1_band == 1.0


def test_raw_vader_reproduces_the_notes_band_figure() -> None:
    # shared/notes/vader.md §0: raw VADER on the tweets, neutral band, macro-F1 0.740.
    assert raw("tweets").macro_f1_band == pytest.approx(0.740, abs=5e-4)
