"""Runbooks written for other tools: what their attributes and front matter mean to swrun."""
