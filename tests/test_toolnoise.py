"""Which lines of a driven tool's output are its interpreter's warnings (swrun.toolnoise)."""

from __future__ import annotations

from swrun.toolnoise import MAX_KEPT, Noise


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    n = Noise()
    shown = [s for s in lines if not n.is_noise(s)]
    return shown, n.kept


def test_a_python_warning_and_the_source_line_under_it_are_noise() -> None:
    shown, kept = _split([
        "/v/site-packages/ansible/_internal/_ssh/_ssh_agent.py:18: CryptographyDeprecationWarning:"
        " DSA is deprecated and support will be removed in a future release.",
        "  from cryptography.hazmat.primitives.asymmetric.dsa import (",
        "PLAY [web]",
        "  indented output after a real line stays output",
    ])
    assert shown == ["PLAY [web]", "  indented output after a real line stays output"]
    assert len(kept) == 2 and kept[1].startswith("  from cryptography")


def test_node_warnings_are_noise_and_lookalikes_are_not() -> None:
    shown, kept = _split([
        "(node:4242) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.",
        "(Use `node --trace-deprecation ...` to show where the warning was created)",
        "(node:4242) Warning: something",
        "[PM2] Applying action restartProcessId on app [api](ids: [ 0 ])",
        "app.py:12: this is not a warning category",
        "deploy.py:3: DeprecationWarning is what the app printed, with no colon after",
        "  indented, but not after a Python warning",
    ])
    assert len(kept) == 3
    assert shown[0].startswith("[PM2]") and len(shown) == 4


def test_at_most_max_kept_lines_are_kept_but_all_are_recognised() -> None:
    shown, kept = _split([f"(node:{i}) Warning: w" for i in range(MAX_KEPT + 10)])
    assert shown == [] and len(kept) == MAX_KEPT
