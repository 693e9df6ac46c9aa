"""The parser's parts; `swrun.parser` is the face the rest of swrun imports.

    source.py    which files are read (size, kind, UTF-8, line length); the line-scan guard
    markdown.py  the markdown-it set-up: plugins, task items, nesting limits, one per thread
    builder.py   _Builder: the token walk — sections, steps, attributes, ids
    reading.py   what a block as written becomes (_Reading, the _Blocks rules, file= scripts)
    values.py    the values a runbook asks for (placeholders, `$NAME` nothing sets)
"""
