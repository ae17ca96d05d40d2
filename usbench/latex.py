"""Plain text to LaTeX, shared by the leaderboard and the paper tables."""

from __future__ import annotations

_TEX_ESCAPES = str.maketrans(
    {
        "\\": r"\textbackslash{}",
        "_": r"\_",
        "%": r"\%",
        "&": r"\&",
        "#": r"\#",
        "$": r"\$",
        "{": r"\{",
        "}": r"\}",
        "±": r"$\pm$",
        "↑": r"$\uparrow$",
        "↓": r"$\downarrow$",
    }
)


def tex_escape(text: str) -> str:
    """Escape plain text for LaTeX (one pass, so escapes are never escaped again)."""
    return text.translate(_TEX_ESCAPES)
