"""Reference statistics (`usbench score REAL --save-stats`, a `.npz` in place of REAL),
checked against pytorch-fid's own `--save-stats` and its CLI given a `.npz`."""

from __future__ import annotations

import numpy as np
import pytest
from _pytorch_fid import pytorch_fid_cli, pytorch_fid_value
from click.testing import CliRunner

import usbench
from usbench.cli import main
from usbench.metrics._lib.frechet import frechet_distance, frechet_distance_to_moments


def test_frechet_distance_to_moments_equals_the_distance_between_feature_sets():
    """FD to (mu, unbiased sigma) of a feature set equals FD to the set itself, on both
    routes of the trace term (fewer samples than dimensions, and more). Tolerance 1e-8
    relative: the n×n route's zero eigenvalues come back as round-off (~1e-16 of the
    largest) whose square roots add ~1e-8 each; the feature-set route takes an SVD."""
    rng = np.random.default_rng(0)
    for n, d in [(12, 40), (300, 8)]:
        x = rng.normal(size=(n, d))
        y = 1.5 * rng.normal(size=(n + 7, d)) + 0.3
        moments = frechet_distance_to_moments(x, y.mean(0), np.cov(y, rowvar=False))
        assert moments == pytest.approx(frechet_distance(x, y), rel=1e-8)


@pytest.mark.slow
def test_saved_statistics_match_pytorch_fid(pocus_dir, tmp_path):
    """On the real POCUS frames (REGULAR 40 as real, COVID 40 as generated, 256 px):

    * our `--save-stats` file equals pytorch-fid's `--save-stats` of the same folder
      (mu to 1e-4, sigma to 1e-4 absolute: pytorch-fid keeps float32 features);
    * FID from our npz = FID from pytorch-fid's npz = FID from the folder = pytorch-fid's
      CLI given our npz and the COVID folder, all to 1e-3;
    * KID cannot be computed from moments: an `unavailable` row that says it needs images.
    """
    real, fake = pocus_dir / "regular", pocus_dir / "covid"
    ours, theirs = tmp_path / "ours.npz", tmp_path / "theirs.npz"
    torch_home = tmp_path / "torch-home"
    runner = CliRunner()
    saved = runner.invoke(
        main, ["score", str(real), "--save-stats", str(ours), "--image-size", "256"]
    )
    assert saved.exit_code == 0, saved.output
    assert "saved FID statistics of 40 images (2048-d)" in saved.output
    pytorch_fid_cli(["--save-stats", str(real), str(theirs)], torch_home)
    with np.load(ours) as a, np.load(theirs) as b:
        assert a["mu"].shape == (2048,) and a["sigma"].shape == (2048, 2048)
        assert int(a["n"]) == 40
        np.testing.assert_allclose(a["mu"], b["mu"], atol=1e-4)
        np.testing.assert_allclose(a["sigma"], b["sigma"], atol=1e-4)

    folder = float(usbench.score(real, fake, metrics="fid", image_size=256).loc[0, "value"])
    table = usbench.score(ours, fake, metrics="fid,kid").set_index("metric")
    from_ours = float(table.loc["fid", "value"])
    from_theirs = float(usbench.score(theirs, fake, metrics="fid").loc[0, "value"])
    reference = pytorch_fid_value(ours, fake, torch_home)
    print(f"folder {folder:.6f} ours.npz {from_ours:.6f} theirs.npz {from_theirs:.6f} "
          f"pytorch-fid(ours.npz) {reference:.6f}")  # fmt: skip
    assert from_ours == pytest.approx(folder, abs=1e-6)
    assert from_theirs == pytest.approx(folder, abs=1e-3)
    assert reference == pytest.approx(folder, abs=1e-3)
    assert table.loc["fid", "variant"]["reference"].startswith("statistics ours.npz")
    assert table.loc["kid", "status"] == "unavailable"
    assert "needs images" in table.loc["kid", "message"]

    cli = runner.invoke(main, ["score", str(ours), str(fake), "--metrics", "fid,kid"])
    assert cli.exit_code == 0, cli.output
    assert f"{from_ours:.4g}" in cli.output and "UNAVAILABLE: needs images" in cli.output


def test_statistics_file_errors_say_what_to_do(tiny_folder, tmp_path):
    """A .npz without mu/sigma, or of the wrong layer width, fails or is unavailable with
    the fix."""
    bad = tmp_path / "bad.npz"
    np.savez(bad, mean=np.zeros(3))
    with pytest.raises(ValueError, match="not 'mu' and 'sigma'.*--save-stats"):
        usbench.score(bad, tiny_folder, metrics="fid")
    pool1 = tmp_path / "pool1.npz"
    np.savez(pool1, mu=np.zeros(64), sigma=np.eye(64))
    table = usbench.score(pool1, tiny_folder, metrics="fid")
    assert table.loc[0, "status"] == "unavailable"
    assert "64-d" in table.loc[0, "message"] and "fid:layer=pool1" in table.loc[0, "message"]
