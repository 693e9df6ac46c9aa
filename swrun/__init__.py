"""swrun: run Markdown runbooks step by step, with an append-only TOML run log."""

__version__ = "0.1.0"
