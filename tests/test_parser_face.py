"""The parser's parts live in swrun/parse/; the names swrun, tests and bench import from
swrun.parser and swrun.rules.shelltext stay importable there, as the same objects."""

from __future__ import annotations

from swrun import parser
from swrun.parse import builder, markdown, reading, source
from swrun.rules import shellplaceholders, shelltext


def test_the_parser_face_keeps_its_names() -> None:
    for name in parser.__all__:
        assert hasattr(parser, name), name
    assert parser.read_text is source.read_text
    assert parser.MAX_NESTING == markdown.MAX_NESTING
    assert parser._write_script is reading._write_script
    assert parser._Builder is builder._Builder


def test_shelltext_keeps_the_placeholder_names() -> None:
    for name in ("ANGLE", "BRACED", "PLAIN", "SINGLE", "DOUBLE", "COMMENT", "HEREDOC",
                 "QUOTED_HEREDOC", "RESERVED", "OWNED_PREFIXES", "Placeholder", "_contexts",
                 "find_placeholders", "owned_renamed", "shell_owned", "var_name"):
        assert getattr(shelltext, name) is getattr(shellplaceholders, name), name
