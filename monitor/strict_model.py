"""The base of every config model. Outside monitor.settings: that package imports the
sections defined beside their subsystems (alerts, X, Reddit), which import this."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys refused, values frozen. YAML reads .inf and .nan as numbers: .nan was
    refused as out of range ("less than or equal to 1"), and .inf under no upper bound
    quietly turned its check off."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
