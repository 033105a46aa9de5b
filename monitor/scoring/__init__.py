"""Sentiment scoring: VADER done right for brand mentions.

See docs/scoring.md. The pipeline calls ``Scorer(config).score(text, lang=...)``.
"""

from monitor.scoring.lexicon import DEFAULT_OVERLAY
from monitor.scoring.scorer import EMPTY, NO_SIGNAL, Scorer

__all__ = ["DEFAULT_OVERLAY", "EMPTY", "NO_SIGNAL", "Scorer"]
