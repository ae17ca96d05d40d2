"""classifier_gain training records: augmentation and synthetic images really change the
trained weights (same seed), early stopping keeps a trained epoch (≥ 1, recorded), the
confusion matrices agree with the scores, and a planted defect — synthetic images
ignored — is caught. Also the report's per-run curve and confusion figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_classifier_gain import _one_thread, factory, toy_data  # noqa: F401 (autouse)

from usbench.protocols import Capabilities
from usbench.tasks import classifier_gain as cg
from usbench.tasks._classification.models import TrainRecipe, build_classifier, train_classifier
from usbench.tasks._classification.summary import class_counts

SEED = 7


def _task(**settings: str) -> cg.ClassifierGain:
    base = {"pretrained": "false", "epochs": "3", "batch_size": "8", "image_size": "16",
            "minority_class": "pneumonia"}  # fmt: skip
    return cg.ClassifierGain.from_preset("smoke", {**base, **settings})


def _fold_inputs(task: cg.ClassifierGain):
    """One fold of the toy data: kept real images, synthetic ``(images, labels)`` of the
    minority class (bright band at a row no real image has), test ``(images, labels)``."""
    data = toy_data()
    train = data.subset([i for i, p in enumerate(data.patient_ids) if not p.endswith("p2")])
    test = data.subset([i for i, p in enumerate(data.patient_ids) if p.endswith("p2")])
    synthetic = torch.full((12, 1, 16, 16), 0.1)
    synthetic[:, :, 12:14, :] = 1.0
    labels = torch.full((12,), 1, dtype=torch.int64)
    return train, (synthetic, labels), (test.images, test.labels)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def check_synthetic_arm_uses_synthetic_images(task: cg.ClassifierGain) -> None:
    """Raise AssertionError unless the ``real+synthetic`` arm trains on the synthetic
    images: other weights than the ``real`` arm of the same seed, and the synthetic
    images counted per class."""
    kept, synthetic, test = _fold_inputs(task)
    real_model, real = task.train_arm("real", kept, synthetic, test, SEED)
    syn_model, syn = task.train_arm("real+synthetic", kept, synthetic, test, SEED)
    assert not _same(_weights(real_model), _weights(syn_model)), "weights ignore synthetic"
    assert syn["train_images"]["synthetic"] == class_counts(synthetic[1], 3) == [0, 12, 0]
    assert real["train_images"]["synthetic"] == [0, 0, 0]
    assert syn["train_images"]["real"] == real["train_images"]["real"] == [8, 8, 8]


def test_synthetic_images_reach_the_classifier():
    check_synthetic_arm_uses_synthetic_images(_task())


def test_planted_defect_synthetic_images_ignored_is_caught(monkeypatch):
    honest = cg._training_set

    def ignores_synthetic(arm, real, synthetic, size):
        return honest("real", real, synthetic, size)  # the defect: synthetic never added

    monkeypatch.setattr(cg, "_training_set", ignores_synthetic)
    with pytest.raises(AssertionError, match="weights ignore synthetic"):
        check_synthetic_arm_uses_synthetic_images(_task())


@pytest.mark.parametrize("base", ["real", "real+synthetic"])
def test_augmentation_changes_the_trained_weights(base):
    task = _task()
    kept, synthetic, test = _fold_inputs(task)
    plain, plain_rec = task.train_arm(base, kept, synthetic, test, SEED)
    again, _ = task.train_arm(base, kept, synthetic, test, SEED)
    augmented, aug_rec = task.train_arm(f"{base}+aug", kept, synthetic, test, SEED)
    assert _same(_weights(plain), _weights(again))  # deterministic: only augmentation differs
    assert not _same(_weights(plain), _weights(augmented))
    assert aug_rec["augmented"] and not plain_rec["augmented"]
    assert aug_rec["train_images"] == plain_rec["train_images"]
    assert aug_rec["curves"]["train_loss"] != plain_rec["curves"]["train_loss"]


def _toy_tensors():
    data = toy_data()
    return data.images, data.labels


def test_early_stopping_keeps_a_trained_epoch_and_records_it():
    """Validation labels that contradict the training labels: the validation loss is best
    after epoch 1, so epoch 1 is kept — the exact weights of a 1-epoch training, never the
    untrained initialisation."""
    images, labels = _toy_tensors()
    wrong = (labels + 1) % 3
    recipe = TrainRecipe(epochs=10, batch_size=8, learning_rate=1e-2, patience=2)
    model = build_classifier("small-cnn", 3, pretrained=False, seed=SEED)
    untrained = _weights(model)
    history = train_classifier(model, images, labels, recipe=recipe, seed=SEED,
                               val=(images, wrong))  # fmt: skip
    one_epoch = build_classifier("small-cnn", 3, pretrained=False, seed=SEED)
    train_classifier(one_epoch, images, labels, recipe=TrainRecipe(1, 8, 1e-2), seed=SEED)
    assert history.val_loss[1] > history.val_loss[0]  # the premise: it only gets worse
    assert history.kept_epoch == 1 and history.stopped_early and history.epochs_run == 3
    assert _same(_weights(model), _weights(one_epoch))
    assert not _same(_weights(model), untrained)
    assert len(history.train_loss) == len(history.val_accuracy) == 3


def test_without_early_stopping_the_last_epoch_is_kept_and_monitoring_changes_nothing():
    images, labels = _toy_tensors()
    recipe = TrainRecipe(epochs=4, batch_size=8, learning_rate=1e-2)
    plain = build_classifier("small-cnn", 3, pretrained=False, seed=SEED)
    history = train_classifier(plain, images, labels, recipe=recipe, seed=SEED)
    watched = build_classifier("small-cnn", 3, pretrained=False, seed=SEED)
    watched_history = train_classifier(watched, images, labels, recipe=recipe, seed=SEED,
                                       monitor=(images, labels))  # fmt: skip
    assert history.kept_epoch == 4 and not history.stopped_early
    assert _same(_weights(plain), _weights(watched))
    assert watched_history.train_loss == history.train_loss
    # the monitored accuracy is the model's accuracy on those images after that epoch
    predicted = watched(images).argmax(1)
    assert watched_history.monitor_accuracy[-1] == pytest.approx(
        float((predicted == labels).float().mean())
    )
    assert history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize("val_fraction", ["0.1", "0.5"])
def test_early_stopping_needs_validation_patients_of_two_classes(val_fraction):
    """Toy fold: 2 training patients per class. 0.1 holds out one patient of one class —
    early stopping would watch a single class, so it is off and all epochs run; 0.5
    holds out one patient per class and early stopping chooses the epoch."""
    task = _task(patience="1", epochs="4", val_fraction=val_fraction)
    kept, synthetic, test = _fold_inputs(task)
    if val_fraction == "0.1":
        with pytest.warns(UserWarning, match="cover one class"):
            _, record = task.train_arm("real", kept, synthetic, test, SEED)
        assert not record["early_stopping"] and record["val_images"] == [0, 0, 0]
        assert record["train_images"]["real"] == [8, 8, 8] and record["kept_epoch"] == 4
        assert "val_loss" not in record["curves"]
    else:
        _, record = task.train_arm("real", kept, synthetic, test, SEED)
        assert record["early_stopping"] and record["val_images"] == [4, 4, 4]
        assert record["train_images"]["real"] == [4, 4, 4]
        losses = record["curves"]["val_loss"]
        assert record["kept_epoch"] == 1 + int(np.argmin(losses)) >= 1
        assert len(losses) == record["epochs_run"]


def test_task_records_curves_counts_and_confusion_that_match_the_scores():
    task = _task(folds="3", minority_fractions="0.5,1.0", synthetic_per_image="2", epochs="2")
    gen, _ = factory(Capabilities(class_conditional=True))
    rows = task.run(toy_data(), gen, seed=0)
    accuracy = {r.group: r for r in rows if r.metric == "accuracy"}
    recall = {r.group: r for r in rows if r.metric == "recall"}
    kept = {r.group: r for r in rows if r.metric == "kept_epoch"}
    assert set(kept) == set(accuracy) and len(kept) == 4 * 2
    for group, row in accuracy.items():
        records = row.details["training"]
        assert [r["fold"] for r in records] == [0, 1, 2]
        assert kept[group].details["per_fold"] == [r["kept_epoch"] for r in records] == [2] * 3
        assert kept[group].value == 2.0
        for record, fold_acc, (n_real, n_syn) in zip(
            records, row.details["per_fold"], row.details["real_synthetic_per_fold"], strict=True
        ):
            confusion = np.asarray(record["confusion"])
            assert np.trace(confusion) / confusion.sum() == pytest.approx(fold_acc)
            assert confusion.sum(axis=1).tolist() == record["test_images"]
            assert len(record["curves"]["train_loss"]) == record["epochs_run"] == 2
            assert sum(record["train_images"]["real"]) == n_real
            synthetic = sum(record["train_images"]["synthetic"])
            assert synthetic == (n_syn if "synthetic" in group else 0)
        pneumonia = recall[f"{group}/class=pneumonia"].details["per_fold"]
        from_confusion = [r["confusion"][1][1] / sum(r["confusion"][1]) for r in records]
        assert pneumonia == pytest.approx(from_confusion)


def test_report_draws_curves_and_confusion_per_run(tmp_path):
    from usbench.classifier_figures import classifier_training_figures
    from usbench.store import ResultStore, RunRow, ScoreRow

    task = _task(folds="3", minority_fractions="1.0", synthetic_per_image="1", epochs="2")
    gen, _ = factory(Capabilities(class_conditional=True))
    scores = task.run(toy_data(), gen, seed=0)
    store = ResultStore(tmp_path / "store")
    rows = [ScoreRow("task", f"classifier_gain/{s.metric}", "1", {}, "ok", s.higher_is_better,
                     value=s.value, spread=s.spread, n=s.n, group=s.group, details=s.details)
            for s in scores]  # fmt: skip
    run = RunRow(run_id="r1", created_at="2026-01-01", generator="toy", preset="smoke",
                 config={}, config_hash="h", dataset="toy", data_hash="d", split={}, seed=0,
                 n_samples=0, run_dir=str(tmp_path / "r1"), provenance={})  # fmt: skip
    store.add_run(run, rows)
    written = classifier_training_figures(store, tmp_path / "figures", {"r1"})
    names = sorted(p.name for p in written)
    assert names == ["r1_classifier_gain_confusion.pdf", "r1_classifier_gain_confusion.png",
                     "r1_classifier_gain_curves.pdf", "r1_classifier_gain_curves.png"]  # fmt: skip
    assert all(p.stat().st_size > 1000 for p in written)
    assert classifier_training_figures(store, tmp_path / "none", {"other"}) == []


def test_report_draws_the_task_figures_of_a_job_that_shares_its_training(tmp_path):
    """Two jobs of one run key (the second also ran the task): their metric rows count
    once in the tables, and the task's figures are still drawn for the second job."""
    from usbench.report import leaderboard, load_scores, write_report
    from usbench.store import ResultStore, RunRow, ScoreRow

    task = _task(folds="3", minority_fractions="1.0", synthetic_per_image="1", epochs="2")
    gen, _ = factory(Capabilities(class_conditional=True))
    scores = task.run(toy_data(), gen, seed=0)
    store = ResultStore(tmp_path / "store")
    ssim = ScoreRow("metric", "ssim", "1", {}, "ok", True, value=0.5, spread=0.1, n=4)
    tasks = [ScoreRow("task", f"classifier_gain/{s.metric}", "1", {}, "ok", s.higher_is_better,
                      value=s.value, spread=s.spread, n=s.n, group=s.group, details=s.details)
             for s in scores]  # fmt: skip
    for run_id, rows in (("plain", [ssim]), ("with-task", [ssim, *tasks])):
        run = RunRow(run_id=run_id, created_at=f"2026-01-0{len(rows)}", generator="toy",
                     preset="smoke", config={}, config_hash="h", dataset="toy", data_hash="d",
                     split={}, seed=0, n_samples=4, run_dir=str(tmp_path / run_id),
                     provenance={"run_key": "same-training"})  # fmt: skip
        store.add_run(run, rows)
    assert leaderboard(load_scores(store)).iloc[0]["runs"] == 1
    written = {p.name for p in write_report(store, tmp_path / "out", formats=("csv",))}
    assert "with-task_classifier_gain_curves.png" in written
    assert "with-task_classifier_gain_confusion.png" in written
