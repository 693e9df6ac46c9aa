"""Static and Label that show their text as it is, never as Textual markup.

Titles, commands, notes, errors and host output come from runbooks, operators and remote
machines: read as markup, `Check [/etc/hosts]` stops the console with a MarkupError,
`[staging]` silently disappears and `[@click=app.quit]` becomes an action. Rich `Text`
passed to these keeps its own styles.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Label, Static


class Plain(Static):
    """A Static whose string content is literal text."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)


class PlainLabel(Label):
    """A Label whose string content is literal text."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)
