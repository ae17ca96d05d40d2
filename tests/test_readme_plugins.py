"""The README's plugin section shows what the example package really contains."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "plugin_example"


def test_readme_plugin_snippets_are_excerpts_of_the_example_package():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 5
    sources = [p.read_text() for p in EXAMPLE.rglob("*.py")]
    sources.append((EXAMPLE / "pyproject.toml").read_text())
    lines = {line.strip() for text in sources for line in text.splitlines()}
    for block in blocks:
        for line in block.splitlines():
            code = line.split("  # ")[0].strip()
            if code and "..." not in code and not code.startswith(("# your", "from ")):
                assert code in lines, f"README line not in tests/plugin_example: {line!r}"
