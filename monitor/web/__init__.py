"""The social team's dashboard (a read-only placeholder until the dashboard issue lands)."""
