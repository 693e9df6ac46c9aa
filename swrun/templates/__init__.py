"""Runbook templates for `swrun new` (package data: read with importlib.resources)."""
