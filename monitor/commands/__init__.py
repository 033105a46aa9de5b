"""Command groups of the ``inchannel`` CLI, one module each."""
