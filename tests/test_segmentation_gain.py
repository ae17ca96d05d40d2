"""segmentation_gain: its Dice and HD95 (MONAI) against independent numpy computations, its
patient handling, and one end-to-end run on lus-phantom with a label-map ddpm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.spatial.distance import cdist

from usbench.data.phantom import LUSPhantom
from usbench.plugins import resolve
from usbench.protocols import FitContext
from usbench.tasks._segmentation.scores import dice_per_image, hd95_per_image, summarise
from usbench.tasks.segmentation_gain import SegmentationGain, keep_patients


def blobs(seed: int, n: int = 6, size: int = 40, classes: int = 4) -> torch.Tensor:
    """``n×size×size`` maps of random rectangles (away from the border), classes 1..3."""
    rng = np.random.default_rng(seed)
    maps = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        for k in range(1, classes):
            if rng.random() < 0.85:
                y, x = rng.integers(3, size - 15, 2)
                h, w = rng.integers(3, 12, 2)
                maps[i, y : y + h, x : x + w] = k
    return torch.from_numpy(maps)


def numpy_dice(p: np.ndarray, t: np.ndarray) -> float:
    if not t.any():
        return math.nan
    return 2.0 * np.logical_and(p, t).sum() / (p.sum() + t.sum())


def numpy_hd95(p: np.ndarray, t: np.ndarray) -> float:
    """Symmetric 95th-percentile distance between the masks' edge pixels."""
    if not p.any() or not t.any():
        return math.nan
    edge_p = np.argwhere(p & ~ndimage.binary_erosion(p))
    edge_t = np.argwhere(t & ~ndimage.binary_erosion(t))
    d = cdist(edge_p, edge_t)
    return max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))


def test_dice_and_hd95_equal_independent_numpy():
    pred, target = blobs(1), blobs(2)
    pred[:3] = target[:3]  # some perfect images too
    dice, hd = dice_per_image(pred, target, 4), hd95_per_image(pred, target, 4)
    for i in range(len(pred)):
        for k in range(1, 4):
            p, t = (pred[i] == k).numpy(), (target[i] == k).numpy()
            np.testing.assert_allclose(dice[i, k - 1], numpy_dice(p, t), rtol=1e-6, equal_nan=True)
            np.testing.assert_allclose(hd[i, k - 1], numpy_hd95(p, t), rtol=1e-6, equal_nan=True)


def test_summary_counts_missed_structures():
    target = torch.zeros(3, 20, 20, dtype=torch.long)
    target[:, 5:10, 5:10] = 1
    pred = target.clone()
    pred[2] = 0  # the structure is missed in image 2
    out = summarise(pred, target, 2)
    assert out["dice"] == [pytest.approx(2 / 3)]  # 1, 1, 0
    assert out["hd95"] == [0.0] and out["hd95_missing"] == [1.0]


def test_kept_patients_are_whole():
    data = LUSPhantom.from_preset(None, {"n_per_class": "4"}).load(image_size=16)
    kept = keep_patients(data, 0.5, seed=3)
    assert len(set(kept.patient_ids)) == math.ceil(0.5 * len(set(data.patient_ids)))
    for p in set(kept.patient_ids):
        assert kept.patient_ids.count(p) == data.patient_ids.count(p)


def test_segmentation_gain_end_to_end_on_the_phantom(tmp_path, one_thread):
    data = LUSPhantom.from_preset(None, {"n_per_class": "4"}).load(image_size=16)
    selector = "ddpm:conditioning=label-map,train.steps=3,train.checkpoint_every=100"
    fits = []

    def train_generator(train, tag):
        generator = resolve("generators", selector, preset="smoke").build()
        generator.fit(train, FitContext(workdir=tmp_path / tag, progress=False))
        fits.append((tag, len(train)))
        return generator

    task = SegmentationGain.from_preset("smoke", {})
    rows = task.run(data, train_generator, seed=0)
    assert [tag for tag, _ in fits] == ["fold0-real100", "fold1-real100"]
    by_key = {(r.metric, r.group): r for r in rows}
    mean_dice = by_key[("dice", "real/real=100%")]
    assert 0.0 <= mean_dice.value <= 1.0 and mean_dice.n == 2
    synthetic = by_key[("dice", "real+synthetic/real=100%")]
    assert synthetic.details["real_synthetic_per_fold"] == [(n, n) for _, n in fits]
    assert (
        "diff_vs_real" in synthetic.details
        and not by_key[("hd95", "real/real=100%")].higher_is_better
    )
    assert ("dice", "real/real=100%/class=pleura") in by_key


def test_an_unconditioned_generator_is_refused(tmp_path):
    data = LUSPhantom.from_preset(None, {"n_per_class": "2"}).load(image_size=16)

    def train_generator(train, tag):
        generator = resolve("generators", "ddpm", preset="smoke").build()
        generator.fit(train, FitContext(workdir=tmp_path / tag, progress=False))
        return generator

    with pytest.raises(ValueError, match="conditioning=label-map"):
        SegmentationGain.from_preset("smoke", {}).run(data, train_generator, seed=0)


def test_examples_hold_the_argmax_of_each_arms_unet_and_the_report_draws_them(
    tmp_path, one_thread, monkeypatch
):
    """The stored predictions are the argmax of the trained U-Net's output on the stored
    test images (fold 0), the truth is the data's, and the report draws one figure."""
    import usbench.tasks.segmentation_gain as module
    from usbench.packed_arrays import unpack_uint8
    from usbench.segmentation_figures import segmentation_example_figures
    from usbench.store import ResultStore, RunRow, ScoreRow

    data = LUSPhantom.from_preset(None, {"n_per_class": "4"}).load(image_size=16)
    models, build_unet = [], module.build_unet

    def keep_model(*args, **kwargs):
        models.append(build_unet(*args, **kwargs))
        return models[-1]

    monkeypatch.setattr(module, "build_unet", keep_model)
    selector = "ddpm:conditioning=label-map,train.steps=2,train.checkpoint_every=100"

    def train_generator(train, tag):
        generator = resolve("generators", selector, preset="smoke").build()
        generator.fit(train, FitContext(workdir=tmp_path / tag, progress=False))
        return generator

    rows = SegmentationGain.from_preset("smoke", {}).run(data, train_generator, seed=0)
    dice_rows = {r.group: r for r in rows if r.metric == "dice" and "examples" in r.details}
    assert sorted(dice_rows) == ["real+synthetic/real=100%", "real/real=100%"]
    # build order: fold 0 real, fold 0 real+synthetic, fold 1 ...
    for model, group in zip(
        models[:2], ("real/real=100%", "real+synthetic/real=100%"), strict=True
    ):
        record = dice_rows[group].details["examples"]
        assert record["fold"] == 0 and len(record["names"]) == 3
        assert record["classes"] == list(data.mask_names)
        idx = [data.index_of(name) for name in record["names"]]
        with torch.no_grad():
            expected = model.eval()(data.images[idx] * 2 - 1).argmax(1)
        np.testing.assert_array_equal(unpack_uint8(record["prediction"]), expected.numpy())
        np.testing.assert_array_equal(unpack_uint8(record["truth"]), data.masks[idx].numpy())
        pixels = unpack_uint8(record["images"]) / 255.0
        np.testing.assert_allclose(pixels, data.images[idx, 0].numpy(), atol=0.5 / 255 + 1e-6)
        for k, i in enumerate(idx):
            per_class = [numpy_dice(expected[k].numpy() == c, data.masks[i].numpy() == c)
                         for c in range(1, len(data.mask_names))]  # fmt: skip
            assert record["dice"][k] == pytest.approx(np.nanmean(per_class), rel=1e-6)
    assert record["names"] == dice_rows["real/real=100%"].details["examples"]["names"]

    store = ResultStore(tmp_path / "store")
    scores = [ScoreRow("task", f"segmentation_gain/{s.metric}", "1", {}, "ok",
                       s.higher_is_better, value=s.value, spread=s.spread, n=s.n,
                       group=s.group, details=s.details) for s in rows]  # fmt: skip
    run = RunRow(run_id="r1", created_at="2026-01-01", generator="ddpm", preset="smoke",
                 config={}, config_hash="h", dataset="lus-phantom", data_hash="d", split={},
                 seed=0, n_samples=0, run_dir=str(tmp_path / "r1"), provenance={})  # fmt: skip
    store.add_run(run, scores)
    written = segmentation_example_figures(store, tmp_path / "figures", {"r1"})
    assert sorted(p.name for p in written) == [
        "r1_segmentation_gain_examples.pdf", "r1_segmentation_gain_examples.png"]  # fmt: skip
    assert all(p.stat().st_size > 1000 for p in written)
    assert segmentation_example_figures(store, tmp_path / "none", {"other"}) == []


def test_packed_arrays_round_trip_and_example_positions():
    from usbench.packed_arrays import pack_uint8, unpack_uint8
    from usbench.tasks._segmentation.examples import example_indices

    maps = blobs(4).numpy()
    assert np.array_equal(unpack_uint8(pack_uint8(maps)), maps)
    with pytest.raises(ValueError, match="0..255"):
        pack_uint8(np.array([256]))
    assert example_indices(10) == [0, 4, 9] and example_indices(2) == [0, 1]
    assert example_indices(0) == []


def test_report_table_has_a_row_per_share_and_arm_with_dice_per_class():
    import pandas as pd

    from usbench.segmentation_table import segmentation_rows

    def row(setting, cls, metric, value):
        return {"dataset": "d", "generator": "g", "preset": "quick", "source": "task",
                "task": "segmentation_gain", "setting": setting, "cls": cls, "metric": metric,
                "value": value, "spread": 0.01}  # fmt: skip

    long = pd.DataFrame(
        [
            row("real/real=50%", "", "dice", 0.6),
            row("real/real=50%", "lung", "dice", 0.7),
            row("real/real=50%", "lung", "hd95", 9.0),  # per-class HD95 is not tabled
            row("real/real=50%", "", "hd95", 12.0),
            row("real+synthetic/real=50%", "", "dice", 0.8),
            {**row("x", "", "accuracy", 0.5), "task": "classifier_gain"},
        ]
    )
    table = segmentation_rows(long)
    assert table[["real share", "arm"]].values.tolist() == [
        ["50%", "real"],
        ["50%", "real+synthetic"],
    ]
    first = table.iloc[0]
    assert (first["dice"], first["hd95"], first["dice lung"]) == (
        "0.600 ± 0.010",
        "12.000 ± 0.010",
        "0.700 ± 0.010",
    )
    assert "hd95 lung" not in table.columns and pd.isna(table.iloc[1]["hd95"])
