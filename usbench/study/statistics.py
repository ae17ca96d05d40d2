"""Statistics of a reader study: can readers tell generated images from real ones?

The input is one row per answer (:func:`answer_table`): ``reader``, ``image_id``,
``truth`` and ``answer`` (``real``/``synthetic``), ``confidence`` (1–5) and
``generator`` (``real`` for real images). "Synthetic" is the positive class. In a
two-alternative study (``2afc``) a trial pairs a generated with a real image, ``truth``
and ``answer`` are sides (``left``/``right``: where the generated image is, where the
reader saw it) and a correct answer is a detected fake; sensitivity, specificity and AUC
do not apply there (n/a), the rest reads the same with chance at 50 %.

- accuracy: share of correct answers, with a **Wilson** score 95 % interval and the exact
  two-sided binomial p-value against 50 % (chance), per reader and pooled over readers
  (pooled answers are not independent across readers: read its p-value with care);
- sensitivity (synthetic images called synthetic) and specificity (real called real);
- AUC from the confidence ratings on the 10-point scale ``+c`` (synthetic, confidence c)
  / ``-c`` (real), i.e. the Mann–Whitney probability that a synthetic image is rated more
  synthetic than a real one (ties count one half);
- Cohen's κ for every pair of readers (on the images both answered) and Fleiss' κ over
  the images every reader answered;
- per-generator detection rate: share of a generator's images called synthetic (for
  ``real``: the false-alarm rate), with Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import binomtest, mannwhitneyu
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

POOLED = "all readers"
LABELS = ("real", "synthetic")
SIDES = ("left", "right")


@dataclass(frozen=True)
class Proportion:
    """``k`` of ``n``, its Wilson 95 % interval and the two-sided binomial p vs 0.5."""

    k: int
    n: int
    value: float
    ci_low: float
    ci_high: float
    p_value: float


def proportion(k: int, n: int) -> Proportion:
    """:class:`Proportion` of ``k`` successes in ``n`` trials (``n`` ≥ 1)."""
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return Proportion(k, n, k / n, float(low), float(high), float(binomtest(k, n, 0.5).pvalue))


def answer_table(answers: Sequence, key: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Join stored answers (objects with ``reader``, ``image_id``, ``answer``,
    ``confidence``) with the study key; one row per answer."""
    rows = [
        {
            "reader": a.reader,
            "image_id": a.image_id,
            "truth": key[a.image_id]["truth"],
            "generator": key[a.image_id]["generator"],
            "answer": a.answer,
            "confidence": int(a.confidence),
        }
        for a in answers
    ]
    columns = ["reader", "image_id", "truth", "generator", "answer", "confidence"]
    frame = pd.DataFrame(rows, columns=columns)
    two_sided = frame["truth"].isin(SIDES)
    frame["called_synthetic"] = np.where(
        two_sided, frame["answer"] == frame["truth"], frame["answer"] == "synthetic"
    )
    return frame


def _labels(frame: pd.DataFrame) -> tuple[str, str]:
    return SIDES if frame["truth"].isin(SIDES).any() else LABELS


def synthetic_rating(frame: pd.DataFrame) -> np.ndarray:
    """The 10-point rating: ``+confidence`` if answered synthetic, else ``-confidence``."""
    sign = np.where(frame["answer"] == "synthetic", 1, -1)
    return sign * frame["confidence"].to_numpy()


def rating_auc(truth: Sequence[str], rating: Sequence[float]) -> float:
    """Mann–Whitney AUC of ``rating`` for synthetic against real (NaN without both)."""
    truth, rating = np.asarray(truth), np.asarray(rating, dtype=float)
    fake, real = rating[truth == "synthetic"], rating[truth == "real"]
    if not len(fake) or not len(real):
        return float("nan")
    return float(mannwhitneyu(fake, real).statistic / (len(fake) * len(real)))


def reader_row(name: str, frame: pd.DataFrame) -> dict:
    """Accuracy (Wilson CI, p vs 50 %), sensitivity, specificity and AUC of one reader
    (or of the pooled answers)."""
    correct = int((frame["answer"] == frame["truth"]).sum())
    acc = proportion(correct, len(frame))
    fake, real = frame[frame["truth"] == "synthetic"], frame[frame["truth"] == "real"]
    return {
        "reader": name,
        "n": acc.n,
        "correct": acc.k,
        "accuracy": acc.value,
        "ci_low": acc.ci_low,
        "ci_high": acc.ci_high,
        "p_value": acc.p_value,
        "sensitivity": _share(fake["answer"] == "synthetic"),
        "specificity": _share(real["answer"] == "real"),
        "auc": rating_auc(frame["truth"], synthetic_rating(frame)),
    }


def _share(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else float("nan")


def reader_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`reader_row` for each reader (in name order) and a last, pooled row."""
    rows = [reader_row(str(name), group) for name, group in frame.groupby("reader", sort=True)]
    return pd.DataFrame([*rows, reader_row(POOLED, frame)])


def generator_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per generator (and ``real``): images answered, share called synthetic (2afc: share
    of trials where the generated image was picked), Wilson CI."""
    rows = []
    for generator, group in frame.groupby("generator", sort=True):
        called = proportion(int(group["called_synthetic"].sum()), len(group))
        rows.append(
            {
                "generator": generator,
                "n": called.n,
                "called_synthetic": called.k,
                "detection_rate": called.value,
                "ci_low": called.ci_low,
                "ci_high": called.ci_high,
            }
        )
    return pd.DataFrame(rows)


def cohen_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohen's κ of every pair of readers on the images both answered."""
    wide = frame.pivot(index="image_id", columns="reader", values="answer")
    labels = _labels(frame)
    rows = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        table = pd.crosstab(
            pd.Categorical(both[a], labels), pd.Categorical(both[b], labels), dropna=False
        ).to_numpy()
        kappa = float(cohens_kappa(table).kappa) if len(both) else float("nan")
        rows.append({"reader_a": a, "reader_b": b, "n": len(both), "kappa": kappa})
    return pd.DataFrame(rows, columns=["reader_a", "reader_b", "n", "kappa"])


def fleiss_kappa_of(frame: pd.DataFrame) -> tuple[float, int, int]:
    """Fleiss' κ over the images answered by every reader: ``(κ, images, readers)``.

    With ``P_i`` the agreement on image i and ``p_j`` the share of answers in category j:
    ``κ = (mean P_i − Σ p_j²) / (1 − Σ p_j²)``.
    """
    wide = frame.pivot(index="image_id", columns="reader", values="answer").dropna()
    n_items, n_raters = wide.shape
    if n_items == 0 or n_raters < 2:
        return float("nan"), int(n_items), int(n_raters)
    labels = _labels(frame)
    counts = np.stack([(wide == label).sum(axis=1).to_numpy() for label in labels], axis=1)
    agreement = ((counts * (counts - 1)).sum(axis=1) / (n_raters * (n_raters - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    chance = float((shares**2).sum())
    kappa = (agreement - chance) / (1.0 - chance) if chance < 1 else float("nan")
    return float(kappa), int(n_items), int(n_raters)


@dataclass(frozen=True)
class StudyScores:
    """Everything the report shows about one study."""

    name: str
    readers: pd.DataFrame
    generators: pd.DataFrame
    pairs: pd.DataFrame
    fleiss: tuple[float, int, int]


def score_answers(name: str, frame: pd.DataFrame) -> StudyScores:
    """All statistics of one study's :func:`answer_table`."""
    if frame.empty:
        raise LookupError(f"study {name!r} has no answers yet")
    return StudyScores(
        name,
        reader_table(frame),
        generator_table(frame),
        cohen_table(frame),
        fleiss_kappa_of(frame),
    )
