"""The two-alternative mode: a generated and a real image side by side, which is synthetic?"""

from __future__ import annotations

import numpy as np
import pytest
from _study_fixtures import new_study, study_store
from PIL import Image
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score
from starlette.testclient import TestClient

from usbench.study.blinding import read_key
from usbench.study.database import StudyDatabase
from usbench.study.report_tables import study_frame, to_markdown
from usbench.study.statistics import score_answers
from usbench.study.tokens import new_token
from usbench.study.webapp import build_app

TOKENS = {"dr-a": new_token(), "dr-b": new_token()}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    store = study_store(tmp_path_factory.mktemp("store"))
    created = new_study(store, "pairs", per_run=3, mode="2afc")  # 6 trials
    db = StudyDatabase(created.paths.database)
    for i, (name, token) in enumerate(TOKENS.items()):
        db.add_reader(name, token, None, seed=i)
    return store, created, db, TestClient(build_app(created.paths))


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_each_trial_pairs_a_generated_and_a_real_image(pairs):
    store, created, db, _ = pairs
    key = read_key(created.paths)
    assert len(key) == 6 and db.mode() == "2afc"
    assert {k["truth"] for k in key.values()} == {"left", "right"}
    real_sources = [k["real_source"] for k in key.values()]
    assert len(set(real_sources)) == 6 and all(s.startswith("phantom/") for s in real_sources)
    for trial_id, item in key.items():
        shown = created.paths.images / f"{db.pair_image(trial_id, item['truth'])}.png"
        np.testing.assert_array_equal(_pixels(shown), _pixels(store.runs_dir / item["source"]))
        assert not (created.paths.images / f"{trial_id}.png").exists()
    assert len(list(created.paths.images.iterdir())) == 12


def test_web_flow_and_refusals(pairs):
    _, created, db, client = pairs
    token = TOKENS["dr-a"]
    state = client.get(f"/api/r/{token}/state").json()
    trial = state["next"]["image_id"]
    assert state["mode"] == "2afc" and state["total"] == 6
    left = client.get(f"/api/r/{token}/pair/{trial}/left")
    right = client.get(f"/api/r/{token}/pair/{trial}/right")
    assert left.status_code == right.status_code == 200 and left.content != right.content
    for path in (f"/image/{trial}", f"/pair/{trial}/middle", f"/pair/{trial}/..%2Fleft"):
        assert client.get(f"/api/r/{token}{path}").status_code == 404
    headers = {"X-CSRF-Token": state["csrf"]}
    wrong_kind = {"image_id": trial, "answer": "synthetic", "confidence": 3}
    assert (
        client.post(f"/api/r/{token}/answer", json=wrong_kind, headers=headers).status_code == 422
    )
    ok = {"image_id": trial, "answer": read_key(created.paths)[trial]["truth"], "confidence": 3}
    assert client.post(f"/api/r/{token}/answer", json=ok, headers=headers).status_code == 200
    assert client.post(f"/api/r/{token}/answer", json=ok, headers=headers).status_code == 409


def test_statistics_of_a_two_alternative_study(pairs):
    store, created, db, _ = pairs
    key = read_key(created.paths)
    for name, token in TOKENS.items():
        reader = db.reader_by_token(token)
        done = set(db.answered(reader))
        for i, trial in enumerate(reader.image_ids):
            if trial in done:
                continue
            truth = key[trial]["truth"]
            other = "left" if truth == "right" else "right"
            right = name == "dr-a" or i % 2 == 0
            db.record_answer(reader, trial, truth if right else other, 1 + i % 5, "")
    frame = study_frame(store.root, "pairs")
    scores = score_answers("pairs", frame)
    readers = scores.readers.set_index("reader")
    for name in TOKENS:
        mine = frame[frame["reader"] == name]
        k = int((mine["answer"] == mine["truth"]).sum())
        assert readers.loc[name, "correct"] == k
        assert readers.loc[name, "p_value"] == pytest.approx(binomtest(k, 6).pvalue)
        assert np.isnan(readers.loc[name, "auc"]) and np.isnan(readers.loc[name, "sensitivity"])
    wide = frame.pivot(index="image_id", columns="reader", values="answer")
    kappa = cohen_kappa_score(wide["dr-a"], wide["dr-b"])
    assert scores.pairs.iloc[0]["kappa"] == pytest.approx(kappa)
    per_gen = scores.generators.set_index("generator")
    assert set(per_gen.index) == {"ddpm", "sinddm"} and per_gen["n"].sum() == 12
    md = to_markdown(scores)
    assert "| dr-a | 6 | 1.00 [0.61, 1.00] | 0.031 | n/a | n/a | n/a |" in md
