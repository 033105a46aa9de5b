"""Language identification on short brand-mention texts: py3langid vs lingua.

Run as ``.venv/bin/python bench/langid.py``. Uses tests/data/lang_short.tsv (our own
short mentions in 15 languages) and the English tweets of the VADER ground truth, where
every "non-English" verdict is a tweet that would wrongly go unscored. Writes
bench/results/langid.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitor.scoring import Scorer
from monitor.scoring.evaluate import CorpusError, load_corpus
from monitor.settings import DEFAULT_LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
SHORT = ROOT / "tests" / "data" / "lang_short.tsv"
TWEETS = ROOT.parent / "shared" / "data" / "vader-groundtruth"
OUT = ROOT / "bench" / "results" / "langid.json"

Detect = Callable[[str], str]


def load_short() -> list[tuple[str, str]]:
    rows = []
    for line in SHORT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, text = line.split("\t", 1)
            rows.append((lang, text))
    return rows


def py3langid(restricted: bool) -> Detect:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if restricted:
        identifier.set_languages(DEFAULT_LANGUAGES)
    return lambda text: str(identifier.classify(text)[0])


def lingua(low_accuracy: bool) -> Detect:
    codes = [getattr(IsoCode639_1, code.upper()) for code in DEFAULT_LANGUAGES if code != "no"]
    builder = LanguageDetectorBuilder.from_languages(*map(Language.from_iso_code_639_1, codes))
    builder = builder.with_preloaded_language_models()
    detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()

    def detect(text: str) -> str:
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else "und"

    return detect


def gate() -> Detect:
    """The scorer's own policy (cleanup, English markers, py3langid at its confidence)."""
    scorer = Scorer()

    def detect(text: str) -> str:
        score = scorer.score(text)
        reason = score.reason or ""
        return score.lang or "?" if reason.startswith("language:") else "en"

    return detect


def timed(detect: Detect, texts: list[str]) -> tuple[list[str], float]:
    best, out = float("inf"), []
    for _ in range(3):
        start = time.perf_counter()
        out = [detect(text) for text in texts]
        best = min(best, time.perf_counter() - start)
    return out, best / len(texts) * 1e6


def evaluate(
    name: str, build: Callable[[], Detect], short: list[tuple[str, str]], tweets: list[str]
) -> dict[str, object]:
    start = time.perf_counter()
    detect = build()
    load_s = time.perf_counter() - start
    guesses, us_short = timed(detect, [text for _, text in short])
    tweet_guesses, us_tweet = timed(detect, tweets)
    pairs = list(zip((lang for lang, _ in short), guesses, strict=True))
    english = [g for lang, g in pairs if lang == "en"]
    foreign = [(lang, g) for lang, g in pairs if lang != "en"]
    return {
        "detector": name,
        "load_s": load_s,
        "exact": sum(lang == g for lang, g in pairs) / len(pairs),
        "en_kept": sum(g == "en" for g in english) / len(english),
        "foreign_caught": sum(g != "en" for _, g in foreign) / len(foreign),
        "tweets_en": sum(g == "en" for g in tweet_guesses) / len(tweets),
        "us_short": us_short,
        "us_tweet": us_tweet,
        "misses": [f"{lang}->{g}" for lang, g in pairs if lang != g],
    }


def main() -> int:
    short = load_short()
    try:
        tweets = [item.text for item in load_corpus(TWEETS, "tweets")]
    except CorpusError as exc:
        raise SystemExit(str(exc)) from None  # one line and exit 1, as bench/scoring.py
    candidates: dict[str, Callable[[], Detect]] = {
        "py3langid (97+ langs)": lambda: py3langid(restricted=False),
        "py3langid (28 langs)": lambda: py3langid(restricted=True),
        "lingua high (28)": lambda: lingua(low_accuracy=False),
        "lingua low (28)": lambda: lingua(low_accuracy=True),
        "ours (Scorer, full)": gate,
    }
    rows = [evaluate(name, build, short, tweets) for name, build in candidates.items()]
    print(f"short set: {len(short)} texts; tweets: {len(tweets)} (English)")
    columns = ("load s", "exact", "en ok", "non-en", "tw en", "µs/sh", "µs/tw")
    print(f"{'detector':<24} " + " ".join(f"{c:>6}" for c in columns))
    for r in rows:
        print(
            f"{r['detector']:<24} {r['load_s']:>6.2f} {r['exact']:>6.3f} {r['en_kept']:>6.3f}"
            f" {r['foreign_caught']:>6.3f} {r['tweets_en']:>6.3f}"
            f" {r['us_short']:>6.1f} {r['us_tweet']:>6.1f}"
        )
    print("\nexact: right language; en ok: English kept English; non-en: non-English caught;")
    print("tw en: share of the VADER tweets kept English; µs per text (best of 3);")
    print("ours: the whole Scorer, VADER included; its 'exact' counts English as en.")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
