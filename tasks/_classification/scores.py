"""Classification scores of one fold, their mean ± std over folds, and paired differences.

Per fold (:func:`fold_scores`): accuracy, balanced accuracy, per-class precision / recall /
F1, macro F1, PPV (macro precision, as in seed 004) and AUC-ROC (one-vs-rest, averaged
over the classes that have both positives and negatives in the fold), all from
scikit-learn. A class absent from a fold's test images has no recall, precision or F1
there: those are NaN and left out of the mean (the count ``n`` says over how many folds).

Over folds (:func:`paired_difference`): the difference of an arm to the real-only arm,
fold by fold, with a percentile bootstrap interval over folds and a Wilcoxon signed-rank
p-value (scipy).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from usbench.protocols import TaskScore
from usbench.stats import bootstrap_ci

OVERALL = ("accuracy", "balanced_accuracy", "macro_f1", "ppv", "auc_roc")
PER_CLASS = ("precision", "recall", "f1")


def fold_scores(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float | list[float]]:
    """Scores of one test fold.

    y_true: ``N`` int class indices; probs: ``N×C`` class probabilities (rows sum to 1).
    Returns the :data:`OVERALL` names → float and the :data:`PER_CLASS` names → a list
    of ``C`` floats (NaN for a class with no test image).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        precision_recall_fscore_support,
    )

    n_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    labels = list(range(n_classes))
    prec, rec, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    absent = support == 0
    prec, rec, f1 = (np.where(absent, np.nan, v.astype(float)) for v in (prec, rec, f1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*y_pred contains classes not in y_true.*")
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(np.nanmean(f1)),
        "ppv": float(np.nanmean(prec)),
        "auc_roc": auc_one_vs_rest(y_true, probs),
        "precision": prec.tolist(),
        "recall": rec.tolist(),
        "f1": f1.tolist(),
    }


def confusion_counts(y_true: np.ndarray, probs: np.ndarray) -> list[list[int]]:
    """``C×C`` confusion matrix of one test fold: row = true class, column = predicted
    (argmax of ``probs``, ``N×C``); scikit-learn's convention."""
    from sklearn.metrics import confusion_matrix

    labels = list(range(probs.shape[1]))
    return confusion_matrix(y_true, probs.argmax(axis=1), labels=labels).tolist()


def auc_one_vs_rest(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest binary AUC-ROC over the classes that have both positives and
    negatives in ``y_true``; NaN when none has (a fold with a single class)."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for c in range(probs.shape[1]):
        positive = y_true == c
        if positive.any() and (~positive).any():
            aucs.append(roc_auc_score(positive, probs[:, c]))
    return float(np.mean(aucs)) if aucs else math.nan


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, sample std, n)`` over the finite ``values``; std is 0 for one value, NaN
    mean for none."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return math.nan, math.nan, 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)


def paired_difference(
    arm: Sequence[float], reference: Sequence[float], *, seed: int
) -> dict[str, float | int]:
    """Fold-wise ``arm - reference`` (folds where both are finite).

    Returns ``mean``, ``ci_low``/``ci_high`` (95 % percentile bootstrap over folds, 2000
    resamples), ``p_wilcoxon`` (two-sided signed-rank; 1.0 when every difference is 0,
    NaN with fewer than two folds) and ``n`` (folds used).
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(arm, dtype=float), np.asarray(reference, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    diff = a[keep] - b[keep]
    if diff.size == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "p_wilcoxon": math.nan, "n": 0}  # fmt: skip
    low, high = bootstrap_ci(diff, seed=seed, n_boot=2000)
    if diff.size < 2:
        p = math.nan
    elif np.allclose(diff, 0.0):
        p = 1.0
    else:
        p = float(wilcoxon(diff, zero_method="zsplit").pvalue)
    return {"mean": float(diff.mean()), "ci_low": low, "ci_high": high, "p_wilcoxon": p,
            "n": int(diff.size)}  # fmt: skip


def fold_score_row(
    metric: str,
    group: str,
    values: Sequence[float],
    reference: Sequence[float],
    info: dict,
    *,
    seed: int,
    higher_is_better: bool = True,
) -> TaskScore | None:
    """One task row: mean ± std of the per-fold ``values`` (``None`` when no fold has a
    finite value, e.g. a class no test fold contains), the folds in ``details``, and for an
    arm other than ``real`` its :func:`paired_difference` to the ``reference`` folds."""
    mean, std, n = mean_std(values)
    if n == 0:
        return None
    details = {**info, "per_fold": [float(v) for v in values]}
    if info["arm"] != "real":
        details["diff_vs_real"] = paired_difference(values, reference, seed=seed)
    return TaskScore(
        metric=metric, group=group, value=mean, spread=std, n=n,
        higher_is_better=higher_is_better, details=details,
    )  # fmt: skip
