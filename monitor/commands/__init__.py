"""CLI commands that live outside monitor/cli.py; the group registers them."""
