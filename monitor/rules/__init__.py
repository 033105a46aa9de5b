"""Rules: reviewed YAML files that decide what the bot does with each mention."""
