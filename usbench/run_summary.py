"""What ``usbench run`` prints after a run: one line per score, except that scores which
are unavailable for want of weights are grouped, one line per missing weights entry, with
one command that fetches them all. The full messages stay in the run folder
(``scores.json``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from usbench.store import ScoreRow


def summary_lines(
    scores: Sequence[ScoreRow], run_dir: Path, score_line: Callable[[ScoreRow], str]
) -> list[str]:
    """The lines to print for ``scores`` (``score_line`` formats one ungrouped score)."""
    lines: list[str] = []
    waiting: dict[str, list[str]] = {}  # weights entry → metrics that need it
    for score in scores:
        missing = score.details.get("missing_weights") if score.status == "unavailable" else None
        if missing:
            waiting.setdefault(missing, []).append(score.name)
        else:
            lines.append("  " + score_line(score))
    if waiting:
        count = sum(len(names) for names in waiting.values())
        lines.append(f"  UNAVAILABLE: {count} metric(s) need weights that are not in the cache:")
        lines += [f"    {name}: {', '.join(users)}" for name, users in waiting.items()]
        lines.append(f"  fetch them all: usbench weights fetch {' '.join(waiting)}")
        lines.append(
            "  (offline: `usbench weights status` says where to download each file, then "
            f"`usbench weights import FILE`; full messages in {run_dir / 'scores.json'})"
        )
    return lines
