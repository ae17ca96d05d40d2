"""Class-label prompts of the hybrid method (seed 004, section 3.1).

Each class name maps to a radiology-style description; the learned placeholder token
(``<ultrasound>``) is appended to every prompt when textual inversion is on. The table is
a Config value (``class_prompts``, entries ``"class=prompt"``), so a dataset with other
class names gets its own descriptions from the command line; a class without an entry
falls back to ``prompt_template`` with ``{label}`` replaced by the class name. Prompts
hold no commas, because ``--set`` splits tuple values on commas.
"""

from __future__ import annotations

from collections.abc import Sequence

# BUSI: the paper's wording (normal → "benign breast tissue", sec. 3.1). LUS (POCUS) and
# the phantom: our own descriptions in the same style.
DEFAULT_CLASS_PROMPTS: tuple[str, ...] = (
    "benign=ultrasound image of a benign breast lesion",
    "malignant=ultrasound image of a malignant breast lesion",
    "normal=ultrasound image of a benign breast tissue",
    "covid=lung ultrasound with B-lines of COVID-19",
    "pneumonia=lung ultrasound with consolidation of pneumonia",
    "regular=lung ultrasound with A-lines of a healthy lung",
    "healthy=lung ultrasound with A-lines of a healthy lung",
)
DEFAULT_PROMPT_TEMPLATE = "ultrasound image of {label}"


def parse_class_prompts(entries: Sequence[str]) -> dict[str, str]:
    """``("benign=ultrasound image of ...", ...)`` → ``{"benign": "ultrasound image of ..."}``.

    Raises ``ValueError`` on an entry without ``=`` (the Config is rejected early).
    """
    table: dict[str, str] = {}
    for entry in entries:
        label, sep, prompt = entry.partition("=")
        if not sep or not label.strip() or not prompt.strip():
            raise ValueError(
                f"class_prompts entry {entry!r} must look like 'class=prompt text', "
                "e.g. --set class_prompts='benign=ultrasound image of a benign lesion'"
            )
        table[label.strip()] = prompt.strip()
    return table


def class_prompt(
    class_name: str,
    *,
    table: dict[str, str],
    template: str,
    placeholder: str | None,
) -> str:
    """The prompt for one class; ``placeholder`` (the TI token) is appended when given."""
    prompt = table.get(class_name) or template.replace("{label}", class_name.replace("_", " "))
    return f"{prompt} {placeholder}" if placeholder else prompt
