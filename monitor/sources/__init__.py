"""Mention sources: one module per platform, plus the replay source."""
