"""The Textual operator console (`swrun run`): imports textual, so the core never imports this."""
