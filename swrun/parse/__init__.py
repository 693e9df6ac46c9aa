"""The parser's parts; `swrun.parser` is the face the rest of swrun imports."""
