"""Notifications to chat and webhooks (docs/team.md): configuration (`config`), payload shapes
(`payload`), background delivery (`worker`) and the run's event hook (`hook`).

Importing this package imports nothing heavy; delivery threads start only for a run that has
targets.
"""
