"""Reader-study statistics against independent computations (scipy, sklearn, statsmodels),
and the study's tables in ``usbench report``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _study_fixtures import new_study, study_store
from scipy.stats import binom, binomtest
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from usbench.report import write_report
from usbench.study.blinding import read_key
from usbench.study.database import Answer, StudyDatabase
from usbench.study.statistics import (
    POOLED,
    answer_table,
    proportion,
    score_answers,
    synthetic_rating,
)


def _simulated(seed: int = 3) -> tuple[list[Answer], dict]:
    """5 readers × 40 images (20 real, 10+10 of two generators); the better readers see
    through more fakes; reader 'e' answers only the first 25 images."""
    rng = np.random.default_rng(seed)
    key = {}
    for i in range(40):
        generator = "real" if i < 20 else ("ddpm" if i < 30 else "sinddm")
        truth = "real" if generator == "real" else "synthetic"
        key[f"img{i:02d}"] = {"truth": truth, "generator": generator}
    answers = []
    for reader, skill in zip("abcde", (0.5, 0.6, 0.7, 0.8, 0.65), strict=True):
        for image_id in list(key)[: 25 if reader == "e" else 40]:
            truth = key[image_id]["truth"]
            right = rng.random() < skill
            said = truth if right else ("real" if truth == "synthetic" else "synthetic")
            confidence = int(rng.integers(1, 6)) if not right else int(rng.integers(2, 6))
            answers.append(Answer(reader, image_id, said, confidence, "", ""))
    return answers, key


@pytest.fixture(scope="module")
def study():
    answers, key = _simulated()
    frame = answer_table(answers, key)
    return frame, score_answers("sim", frame)


def test_accuracy_interval_and_p_value(study):
    frame, scores = study
    for row in scores.readers.itertuples():
        group = frame if row.reader == POOLED else frame[frame["reader"] == row.reader]
        k, n = int((group["answer"] == group["truth"]).sum()), len(group)
        assert (row.correct, row.n) == (k, n)
        reference = binomtest(k, n, 0.5)
        assert row.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        # p = 0.5 is symmetric: the two-sided exact p is twice the smaller tail
        tails = min(binom.cdf(k, n, 0.5), binom.sf(k - 1, n, 0.5))
        assert row.p_value == pytest.approx(min(1.0, 2 * tails), rel=1e-9)
        wilson = reference.proportion_ci(confidence_level=0.95, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((wilson.low, wilson.high), rel=1e-9)
    assert len(scores.readers) == 6 and scores.readers.iloc[-1]["n"] == 4 * 40 + 25


def test_known_binomial_values():
    sixty = proportion(60, 100)
    assert sixty.p_value == pytest.approx(0.056887933640580354, rel=1e-9)
    # Wilson interval by its formula: (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)
    z, p, n = 1.959963984540054, 0.6, 100
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    expected = ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))
    assert (sixty.ci_low, sixty.ci_high) == pytest.approx(expected, rel=1e-9)


def test_sensitivity_specificity_auc(study):
    frame, scores = study
    for row in scores.readers.itertuples():
        group = frame if row.reader == POOLED else frame[frame["reader"] == row.reader]
        truth, said = group["truth"], group["answer"]
        assert row.sensitivity == pytest.approx(recall_score(truth, said, pos_label="synthetic"))
        assert row.specificity == pytest.approx(recall_score(truth, said, pos_label="real"))
        auc = roc_auc_score(truth == "synthetic", synthetic_rating(group))
        assert row.auc == pytest.approx(auc, rel=1e-12)
    assert 0.4 < scores.readers.set_index("reader").loc["d", "auc"] <= 1.0


def test_cohen_and_fleiss_kappa(study):
    frame, scores = study
    wide = frame.pivot(index="image_id", columns="reader", values="answer")
    assert len(scores.pairs) == 10  # every pair of 5 readers
    for pair in scores.pairs.itertuples():
        both = wide[[pair.reader_a, pair.reader_b]].dropna()
        assert pair.n == (25 if "e" in (pair.reader_a, pair.reader_b) else 40)
        reference = cohen_kappa_score(both[pair.reader_a], both[pair.reader_b])
        assert pair.kappa == pytest.approx(reference, rel=1e-9)
    kappa, items, raters = scores.fleiss
    complete = wide.dropna()
    codes = (complete == "synthetic").astype(int).to_numpy()
    assert (items, raters) == (25, 5)
    assert kappa == pytest.approx(fleiss_kappa(aggregate_raters(codes)[0]), rel=1e-9)


def test_detection_rate_per_generator(study):
    frame, scores = study
    table = scores.generators.set_index("generator")
    assert list(table.index) == ["ddpm", "real", "sinddm"]
    for generator, row in table.iterrows():
        group = frame[frame["generator"] == generator]
        called = int((group["answer"] == "synthetic").sum())
        assert (row["n"], row["called_synthetic"]) == (len(group), called)
        wilson = binomtest(called, len(group)).proportion_ci(method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((wilson.low, wilson.high))


def test_report_shows_the_reader_table(tmp_path):
    store = study_store(tmp_path / "store")
    created = new_study(store, "vtt", per_run=3)
    db = StudyDatabase(created.paths.database)
    key = read_key(created.paths)
    for name, flip in (("dr-a", False), ("dr-b", True)):
        reader = db.add_reader(name, f"{name:x<43}", None, seed=1)
        for i, image_id in enumerate(reader.image_ids):
            truth = key[image_id]["truth"]
            wrong = flip and i % 3 == 0
            said = ("real" if truth == "synthetic" else "synthetic") if wrong else truth
            db.record_answer(reader, image_id, said, 1 + i % 5, "")
    written = write_report(
        store, tmp_path / "out", layout="seed003", metrics="ssim", with_published=True
    )
    names = {p.name for p in written}
    assert {"study_vtt.md", "study_vtt.tex", "study_vtt.csv", "study_vtt_roc.png"} <= names
    md = (tmp_path / "out" / "study_vtt.md").read_text()
    assert "| dr-a | 12 | 1.00 [0.76, 1.00] | <0.001 | 1.00 | 1.00 | 1.00 |" in md
    assert "| dr-b | 12 | 0.67 [0.39, 0.86] | 0.388 |" in md  # 8 of 12: binomtest p = 0.388
    assert "Fleiss' κ" in md and "dr-a–dr-b" in md
    table = pd.read_csv(tmp_path / "out" / "study_vtt.csv")
    assert table.set_index("reader").loc["dr-b", "correct"] == 8
    tex = (tmp_path / "out" / "study_vtt.tex").read_text()
    assert tex.count(r"\toprule") == 2
    seed003 = (tmp_path / "out" / "tables_seed003.md").read_text().split("Fake detection", 1)[1]
    for generator in ("ddpm", "sinddm"):  # seed 003 Table 4, in percent
        said = [a.answer for a in db.all_answers() if key[a.image_id]["generator"] == generator]
        rate = 100 * said.count("synthetic") / len(said)
        assert (
            f"| {generator} | {rate:.2f}" in seed003 or f"| {generator} | **{rate:.2f}**" in seed003
        )
    assert "| *SinDDM* † | 9.37 |" in seed003 and "| *SinGAN* † | 100.00 |" in seed003
    assert "real |" not in seed003
