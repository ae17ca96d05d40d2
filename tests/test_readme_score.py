"""The README's "Score your own generator" section, run verbatim on tiny folders.

Every `usbench ...` line of its bash blocks runs through the command line (in a scratch
folder holding `data/real`, `my_samples` and `my_samples.safetensors`, with `~` a scratch
home whose `data/pocus-lus` is the shared POCUS frames), and its Python block runs as
written; then the numbers are checked against each other.
"""

from __future__ import annotations

import json
import os
import re
import shlex

import numpy as np
import pytest
import torch
from _shared import REPO
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file

from usbench.store import ResultStore

SECTION = "## Score your own generator"


def _section() -> str:
    return (REPO / "README.md").read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]


def _commands(section: str) -> list[list[str]]:
    """The shell commands of the section's bash blocks, continuation lines joined, `~`
    expanded as the shell would."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                words = [os.path.expanduser(w) for w in shlex.split(line)]
                assert words[0] == "usbench", line
                commands.append(words[1:])
    return commands


def _scratch(root) -> None:
    """`data/real` (8 real frames, flat), `my_samples` (8 noisy variants) and the same
    samples as `my_samples.safetensors`, all 32×32."""
    rng = np.random.default_rng(0)
    (root / "data" / "real").mkdir(parents=True)
    (root / "my_samples").mkdir()
    fakes = []
    for i in range(8):
        real = np.clip(rng.rayleigh(0.3, (32, 32)) * np.linspace(1, 0.2, 32)[:, None], 0, 1)
        fake = np.clip(real + rng.normal(0, 0.1, real.shape), 0, 1)
        Image.fromarray((real * 255).round().astype(np.uint8)).save(root / f"data/real/{i}.png")
        fake8 = (fake * 255).round().astype(np.uint8)
        Image.fromarray(fake8).save(root / f"my_samples/{i}.png")
        fakes.append(fake8 / 255.0)
    images = torch.tensor(np.stack(fakes)[:, None], dtype=torch.float32)
    save_file({"images": images}, str(root / "my_samples.safetensors"))


@pytest.mark.slow
def test_readme_score_section_runs_verbatim(pocus_dir, tmp_path, monkeypatch):
    from usbench.cli import main

    section = _section()
    for entry_point in ("usbench run --generator", "usbench run --load", "usbench score"):
        assert entry_point in section
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "pocus-lus").symlink_to(pocus_dir)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USBENCH_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    _scratch(tmp_path)

    outputs = {}
    for words in _commands(section):
        result = CliRunner().invoke(main, words, catch_exceptions=False)
        assert result.exit_code == 0, f"{shlex.join(words)}\n{result.output}"
        outputs[shlex.join(words)] = result.stdout
    assert len(outputs) == 7

    # the folder FID, the FID from saved statistics and the JSON output agree
    fid_of = {k: re.search(r"^fid\s+(\S+) ±", v, re.M) for k, v in outputs.items()}
    folder_fid = fid_of["score data/real my_samples --metrics fid,kid"].group(1)
    assert fid_of["score real_stats.npz my_samples --metrics fid"].group(1) == folder_fid
    as_json = json.loads(outputs[next(k for k in outputs if k.endswith("--json"))])
    assert [row["metric"] for row in as_json] == ["fid:layer=pool2", "kid"]
    assert all(row["status"] == "ok" and row["n"] == 8 for row in as_json)

    # the two stored runs: PNG samples and their float tensors, against the same split
    runs = {r["generator"]: r for r in ResultStore(tmp_path / "store").runs()}
    assert set(runs) == {"external:my-gan", "external:my-gan-float"}
    png, floats = runs["external:my-gan"], runs["external:my-gan-float"]
    assert (
        png["split"] == floats["split"] and png["config"]["description"] == "StyleGAN2, 10k steps"
    )
    values = {
        (s["run_id"], s["name"]): s["value"] for s in ResultStore(tmp_path / "store").scores()
    }
    for metric in ("fid", "kid", "ssim"):  # the tensors are the PNGs' exact values
        assert values[png["run_id"], metric] == pytest.approx(values[floats["run_id"], metric])
    board = tmp_path / "store" / "leaderboards" / "leaderboard.md"  # report's default folder
    assert "external:my-gan" in board.read_text()

    (python,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    g = torch.Generator().manual_seed(0)
    scope = {"real_tensor": torch.rand(6, 1, 32, 32, generator=g)}
    scope["fake_tensor"] = torch.rand(6, 1, 32, 32, generator=g)
    (tmp_path / "real_stats.npz").unlink()
    exec(python, scope)
    table = scope["table"].set_index("metric")
    assert f"{table.loc['fid', 'value']:.4g}" == folder_fid
