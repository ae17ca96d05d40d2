"""classifier_gain: scores against sklearn/scipy by hand, protocol invariants (no test
patient reaches a generator, minority reduction, synthetic counts), POCOVID-Net parameter
counts from seed 003, augmentation geometry, unavailable weights, harness/CLI wiring."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from usbench.config import ConfigError
from usbench.data.imageset import ImageSet
from usbench.protocols import Capabilities, MetricUnavailable
from usbench.samples import SampleBatch
from usbench.tasks._classification.augment import RegularAugment
from usbench.tasks._classification.models import build_classifier, parameter_counts
from usbench.tasks._classification.scores import fold_scores, mean_std, paired_difference
from usbench.tasks.classifier_gain import (
    ClassifierGain,
    _reduce_minority,
    _synthetic_counts,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("USBENCH_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    yield
    torch.set_num_threads(threads)


def toy_data(n_per_patient: int = 4, size: int = 16) -> ImageSet:
    """3 classes × 3 patients; class c has a bright horizontal band at row 4 + 4c."""
    rng = np.random.default_rng(0)
    images, labels, patients, names = [], [], [], []
    for c in range(3):
        for p in range(3):
            for k in range(n_per_patient):
                image = 0.2 * rng.random((size, size))
                image[4 + 4 * c : 6 + 4 * c, :] = 0.9
                images.append(image)
                labels.append(c)
                patients.append(f"c{c}p{p}")
                names.append(f"c{c}p{p}/{k}")
    return ImageSet(
        images=torch.tensor(np.stack(images)[:, None], dtype=torch.float32),
        labels=torch.tensor(labels),
        class_names=("covid", "pneumonia", "regular"),
        patient_ids=tuple(patients),
        names=tuple(names),
        name="toy",
    )


class RecordingGenerator:
    """Class-conditional stand-in: samples are noisy copies of its training images of the
    requested class; remembers what it was trained on."""

    def __init__(self, train: ImageSet, tag: str) -> None:
        self.train, self.tag = train, tag

    def sample(self, n: int, *, seed: int, labels: torch.Tensor) -> SampleBatch:
        gen = torch.Generator().manual_seed(seed)
        pool = self.train.images[self.train.labels == labels[0]]
        pick = torch.randint(len(pool), (n,), generator=gen)
        noise = 0.05 * torch.rand(n, 1, *pool.shape[-2:], generator=gen)
        return SampleBatch((pool[pick] + noise).clamp(0, 1), labels)


def factory(caps: Capabilities):
    fits: list[RecordingGenerator] = []

    def train_generator(train: ImageSet, tag: str) -> RecordingGenerator:
        fits.append(RecordingGenerator(train, tag))
        return fits[-1]

    train_generator.capabilities = caps
    return train_generator, fits


# -- scores ---------------------------------------------------------------------------
def test_fold_scores_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.6, 0.2, 0.2]]
    )
    s = fold_scores(y, probs)  # predictions 0,1,1,1,0
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert s["precision"] == pytest.approx([1 / 2, 2 / 3, 0.0])
    assert s["recall"] == pytest.approx([1 / 2, 1.0, 0.0])
    assert s["f1"] == pytest.approx([1 / 2, 0.8, 0.0])
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8) / 3)
    assert s["ppv"] == pytest.approx((0.5 + 2 / 3) / 3)
    # class 0: positives 0.8, 0.2 vs negatives 0.1, 0.3, 0.6 → 4 of 6 pairs ranked right
    # class 1: 0.8, 0.6 vs 0.1, 0.7, 0.2 → 5/6; class 2: 0.2 vs 0.1 ×4 → 1
    assert s["auc_roc"] == pytest.approx((4 / 6 + 5 / 6 + 1.0) / 3)


def test_absent_class_is_nan_not_zero():
    s = fold_scores(np.array([0, 0, 1]), np.array([[0.9, 0.05, 0.05]] * 2 + [[0.1, 0.8, 0.1]]))
    assert math.isnan(s["recall"][2]) and math.isnan(s["f1"][2])
    assert s["macro_f1"] == pytest.approx(1.0)
    assert mean_std([0.5, float("nan"), 0.7]) == pytest.approx((0.6, math.sqrt(0.02), 2))


def test_paired_difference_matches_scipy():
    from scipy.stats import wilcoxon

    arm, ref = [0.9, 0.8, 0.85, 0.7, 0.95], [0.7, 0.75, 0.8, 0.72, 0.8]
    d = paired_difference(arm, ref, seed=0)
    diffs = np.subtract(arm, ref)
    assert d["mean"] == pytest.approx(diffs.mean())
    assert d["p_wilcoxon"] == pytest.approx(wilcoxon(diffs, zero_method="zsplit").pvalue)
    assert diffs.min() <= d["ci_low"] <= d["mean"] <= d["ci_high"] <= diffs.max()
    assert paired_difference([1, 1], [1, 1], seed=0)["p_wilcoxon"] == 1.0


# -- classifiers and augmentation -------------------------------------------------------
def test_pocovid_parameter_counts_match_seed_003():
    model = build_classifier("pocovid", 3, pretrained=False, seed=0)
    trainable, frozen = parameter_counts(model)
    # conv5_3 (512·512·9 + 512) + dense 512→64 + BN 64 + dense 64→3; seed 003: ~2.4 M / ~12.4 M
    assert trainable == 2_359_808 + 32_832 + 128 + 195
    assert frozen == 14_714_688 - 2_359_808
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)


def test_pretrained_without_weights_is_unavailable_with_fix():
    with pytest.raises(MetricUnavailable) as err:
        build_classifier("resnet18", 3, pretrained=True, seed=0)
    assert "usbench weights" in err.value.fix and "resnet18-imagenet" in err.value.fix
    task = ClassifierGain.from_preset("smoke", {"classifier": "pocovid"})
    gen, fits = factory(Capabilities(class_conditional=True))
    with pytest.raises(MetricUnavailable):
        task.run(toy_data(), gen, seed=0)
    assert fits == []  # nothing trained before the check
    assert (
        ClassifierGain.from_preset("smoke", {"pretrained": "false"}).variant()["pretrained"]
        is False
    )


def test_augment_identity_and_exact_flips():
    x = torch.rand(6, 1, 12, 12)
    gen = torch.Generator().manual_seed(0)
    same = RegularAugment(0.0, 0.0, hflip=False, vflip=False)(x, gen)
    assert torch.allclose(same, x, atol=1e-6)
    flipped = RegularAugment(0.0, 0.0, hflip=True, vflip=False)(x, gen)
    for a, b in zip(flipped, x, strict=True):
        assert torch.allclose(a, b, atol=1e-6) or torch.allclose(a, b.flip(-1), atol=1e-6)
    assert not torch.allclose(flipped, x)
    moved = RegularAugment()(x, gen)
    assert moved.shape == x.shape and moved.min() >= 0 and moved.max() <= 1


# -- protocol invariants ----------------------------------------------------------------
def test_reduce_minority_keeps_share_whole_patients_first():
    data = toy_data()  # pneumonia: 3 patients × 4 images
    kept = _reduce_minority(data, 1, 0.25, seed=0)
    minority = [kept.patient_ids[i] for i in range(len(kept)) if kept.labels[i] == 1]
    assert len(minority) == 3 and len(set(minority)) == 1  # ceil(0.25·12), one patient
    assert (kept.labels != 1).sum() == (data.labels != 1).sum()
    half = _reduce_minority(data, 1, 0.5, seed=0)
    assert int((half.labels == 1).sum()) == 6
    cfg = ClassifierGain.from_preset("smoke", {"synthetic_mode": "balance"}).config
    assert _synthetic_counts(half, 1, cfg) == {1: 6}


def test_generators_never_see_test_patients_and_counts_follow_the_protocol():
    data = toy_data()
    task = ClassifierGain.from_preset(
        "smoke", {"pretrained": "false", "folds": "3", "minority_fractions": "0.25,1.0",
                  "minority_class": "pneumonia", "synthetic_per_image": "3", "epochs": "1"}
    )  # fmt: skip
    gen, fits = factory(Capabilities(class_conditional=True))
    rows = task.run(data, gen, seed=0)
    _assert_planned(task, data, gen, fits)
    from usbench.data.splits import patient_kfold

    folds = patient_kfold(data, k=3, seed=0)
    assert len(fits) == 3 * 2  # one conditional generator per fold and share
    for fit in fits:
        fold = int(fit.tag.split("-")[0][len("fold") :])
        test_patients = {data.patient_ids[i] for i in folds[fold][1]}
        assert not test_patients & set(fit.train.patient_ids)
    bal = {r.group: r for r in rows if r.metric == "balanced_accuracy"}
    assert set(bal) == {f"{a}/minority={p}%" for a in task.config.arms for p in (25, 100)}
    counts = bal["real+synthetic/minority=25%"].details["real_synthetic_per_fold"]
    for (n_real, n_syn), (train_idx, _) in zip(counts, folds, strict=True):
        n_minority = int((data.labels[train_idx] == 1).sum())
        assert n_real == len(train_idx) - n_minority + math.ceil(0.25 * n_minority)
        assert n_syn == 3 * math.ceil(0.25 * n_minority)
    # every score lies in [0, 1] and non-real arms carry a paired difference
    assert all(0.0 <= r.value <= 1.0 and r.n >= 1 for r in rows if r.metric != "kept_epoch")
    assert "diff_vs_real" in bal["real+aug/minority=100%"].details
    assert "diff_vs_real" not in bal["real/minority=100%"].details


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "sinddm-like"])
def test_single_image_generators_are_fit_per_minority_image(conditional):
    data = toy_data()
    task = ClassifierGain.from_preset(
        "smoke", {"pretrained": "false", "folds": "3", "minority_fractions": "0.5",
                  "arms": "real,real+synthetic", "epochs": "1", "minority_class": "pneumonia"}
    )  # fmt: skip
    # SinDDM/SinGAN are single-image AND class-conditional: still one model per minority image
    gen, fits = factory(Capabilities(single_image=True, class_conditional=conditional))
    task.run(data, gen, seed=0)
    _assert_planned(task, data, gen, fits)
    assert fits and all(len(f.train) == 1 and int(f.train.labels[0]) == 1 for f in fits)
    assert len(fits) == 3 * 4  # 3 folds × ceil(0.5 × 8 training pneumonia images)


def _assert_planned(task, data, gen, fits) -> None:
    """The task's fit plan is exactly the fits its run asked for, in order."""
    plan = task.fit_plan(data, gen.capabilities, seed=0)
    assert [(u.tag, data.subset(u.indices).names) for u in plan] == [
        (f.tag, f.train.names) for f in fits
    ]


def test_separable_toy_data_is_learned():
    task = ClassifierGain.from_preset(
        "smoke", {"pretrained": "false", "folds": "3", "minority_fractions": "1.0",
                  "arms": "real", "epochs": "25", "batch_size": "8", "image_size": "16"}
    )  # fmt: skip
    gen, _ = factory(Capabilities(class_conditional=True))
    rows = task.run(toy_data(n_per_patient=6), gen, seed=0)
    acc = next(r for r in rows if r.metric == "accuracy")
    assert acc.value > 0.9  # bands at different rows: a CNN must separate them


def test_unknown_minority_class_names_the_choices():
    task = ClassifierGain.from_preset("smoke", {"pretrained": "false", "minority_class": "x"})
    with pytest.raises(ValueError, match="covid, pneumonia, regular"):
        task.run(toy_data(), factory(Capabilities())[0], seed=0)
    with pytest.raises(ConfigError, match="Valid keys"):
        ClassifierGain.from_preset("smoke", {"epoch": "3"})


# -- harness and CLI --------------------------------------------------------------------
def test_cli_rejects_bad_task_setting_before_training(tmp_path):
    from usbench.cli import main

    args = ["run", "-g", "ddpm", "-d", "lus-phantom", "--preset", "smoke", "--tasks",
            "classifier_gain", "--task-set", "epoch=3", "--store", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, ConfigError) and "epochs" in str(result.exception)
    assert not (tmp_path / "work").exists()


def test_harness_records_unavailable_task(tmp_path):
    from usbench import harness
    from usbench.plugins import PluginSpec, resolve

    request = harness.RunRequest(generator="ddpm", dataset="tiny")
    task = resolve("tasks", "classifier_gain:classifier=resnet18", preset="smoke")
    fake = PluginSpec("generators", "fake", _FakeGen, None)
    rows = harness.run_tasks([task], request, toy_data(), fake, tmp_path)
    assert len(rows) == 1 and rows[0].status == "unavailable"
    assert "usbench weights" in rows[0].message and rows[0].variant["pretrained"] is True


class _FakeGen:
    capabilities = Capabilities(class_conditional=True)


def test_real_lus_smoke(pocus_dir: Path):
    """2 folds on the real POCUS frames, 32 px, 1 epoch: all rows finite and in range."""
    from usbench.data import open_dataset

    data = open_dataset("lus-mini", image_size=32, root=pocus_dir, options={})
    task = ClassifierGain.from_preset(
        "smoke", {"pretrained": "false", "minority_fractions": "1.0", "epochs": "1",
                  "arms": "real,real+synthetic", "synthetic_per_image": "1"}
    )  # fmt: skip
    gen, fits = factory(Capabilities(class_conditional=True))
    rows = task.run(data, gen, seed=0)
    assert len(fits) == 2
    from usbench.data.splits import patient_kfold

    for fit, (train_idx, test_idx) in zip(fits, patient_kfold(data, k=2, seed=0), strict=True):
        assert sorted(fit.train.names) == sorted(data.names[i] for i in train_idx)
        assert not set(fit.train.patient_ids) & {data.patient_ids[i] for i in test_idx}
    groups = {r.group for r in rows}
    assert "real+synthetic/minority=100%" in groups
    assert all(0.0 <= r.value <= 1.0 for r in rows if r.metric != "kept_epoch")
