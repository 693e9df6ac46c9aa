"""Reading runbooks people already have: shell text heuristics (prompts, placeholders,
interactive commands) and the `swrun check` rules that say what would fail."""
