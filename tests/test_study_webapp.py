"""The reader web app: the reader's flow and every refusal (tokens, traversal, replays,
forged answers, images outside the reader's set, CSRF, admin token)."""

from __future__ import annotations

import pytest
from _study_fixtures import new_study, study_store
from starlette.testclient import TestClient

from usbench.study.blinding import read_key
from usbench.study.database import StudyDatabase
from usbench.study.tokens import new_token
from usbench.study.webapp import build_app

ALICE, BOB = new_token(), new_token()


@pytest.fixture(scope="module")
def app_setup(tmp_path_factory):
    store = study_store(tmp_path_factory.mktemp("store"))
    created = new_study(store, "web", per_run=2)  # 4 generated + 4 real
    db = StudyDatabase(created.paths.database)
    db.add_reader("alice", ALICE, None, seed=1)
    bob = db.add_reader("bob", BOB, 3, seed=2)
    client = TestClient(build_app(created.paths))
    return client, created, db, bob


def _state(client, token):
    response = client.get(f"/api/r/{token}/state")
    assert response.status_code == 200
    return response.json()


def _post(client, token, body, csrf=None, **headers):
    headers = {"Content-Type": "application/json", **headers}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return client.post(f"/api/r/{token}/answer", json=body, headers=headers)


def _answer(client, token, answer="real", confidence=3):
    state = _state(client, token)
    body = {"image_id": state["next"]["image_id"], "answer": answer, "confidence": confidence}
    return _post(client, token, body, state["csrf"]), body, state


def test_reader_flow_and_own_answers_only(app_setup):
    client, created, db, _ = app_setup
    page = client.get(f"/r/{ALICE}")
    assert page.status_code == 200 and "Real or synthetic?" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    first = _state(client, ALICE)
    assert (first["reader"], first["total"], first["done"]) == ("alice", 8, 0)
    image = client.get(f"/api/r/{ALICE}/image/{first['next']['image_id']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert (
        "content-disposition" not in image.headers and image.headers["cache-control"] == "no-store"
    )
    assert (first["next"]["width"], first["next"]["height"]) == (32, 32)
    response, body, _ = _answer(client, ALICE, "synthetic", 4)
    assert response.status_code == 200 and response.json()["done"] == 1
    after = _state(client, ALICE)
    assert after["done"] == 1 and after["answers"][0]["image_id"] == body["image_id"]
    assert after["next"]["image_id"] != body["image_id"]
    assert _state(client, BOB)["answers"] == []  # bob never sees alice's answers
    stored = [a for a in db.all_answers() if a.reader == "alice"]
    assert [(a.image_id, a.answer, a.confidence) for a in stored] == [
        (body["image_id"], "synthetic", 4)
    ]


@pytest.mark.parametrize("token", ["x" * 43, "short", "a" * 43 + "b", "../../etc/passwd"])
def test_unknown_or_malformed_tokens_get_404(app_setup, token):
    client = app_setup[0]
    for path in (f"/r/{token}", f"/api/r/{token}/state", f"/admin/{token}"):
        assert client.get(path).status_code == 404
    body = {"image_id": "A" * 16, "answer": "real", "confidence": 3}
    assert _post(client, token, body, "0" * 64).status_code == 404


def test_no_endpoint_reveals_the_key_or_file_names(app_setup):
    client, created, _, _ = app_setup
    key = read_key(created.paths)
    state = _state(client, ALICE)
    texts = [client.get(f"/api/r/{ALICE}/state").text, client.get(f"/r/{ALICE}").text]
    texts += [client.get(f"/static/{f}").text for f in ("study.js", "study.css")]
    for text in texts:
        assert "sample_" not in text and "run-" not in text and "truth" not in text
        assert not any(item["source"] in text for item in key.values())
    image_id = state["next"]["image_id"]
    traversal = [
        "/static/../study.sqlite",
        "/static/..%2Fstudy.sqlite",
        "/static/reader.html%00.css",
        f"/api/r/{ALICE}/image/..%2F..%2F..%2Fstudy-keys%2Fweb.json",
        f"/api/r/{ALICE}/image/..%2Fstudy.sqlite",
        f"/api/r/{ALICE}/image/{image_id}.png",
        f"/api/r/{ALICE}/image/%2e%2e",
        "/studies/web/study.sqlite",
        "/study-keys/web.json",
        f"/images/{image_id}.png",
    ]
    for path in traversal:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SQLite" not in response.content and b"truth" not in response.content


def test_images_and_answers_outside_the_readers_set_are_refused(app_setup):
    client, created, db, bob = app_setup
    outside = sorted(set(db.image_ids()) - set(bob.image_ids))[0]
    assert client.get(f"/api/r/{BOB}/image/{outside}").status_code == 404
    csrf = _state(client, BOB)["csrf"]
    body = {"image_id": outside, "answer": "real", "confidence": 2}
    refused = _post(client, BOB, body, csrf)
    assert refused.status_code == 403 and "not in your set" in refused.json()["error"]
    forged_id = {"image_id": "../../study.sqlite", "answer": "real", "confidence": 2}
    assert _post(client, BOB, forged_id, csrf).status_code == 403


def test_replayed_and_out_of_order_answers_are_refused(app_setup):
    client, _, db, _ = app_setup
    response, body, state = _answer(client, ALICE)
    assert response.status_code == 200
    replay = _post(client, ALICE, body, state["csrf"])
    assert replay.status_code == 409 and "answered already" in replay.json()["error"]
    later = _state(client, ALICE)
    reader = db.reader_by_token(ALICE)
    skipped = reader.image_ids[later["done"] + 1]  # not the next one
    body = {"image_id": skipped, "answer": "real", "confidence": 1}
    assert _post(client, ALICE, body, later["csrf"]).status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"answer": "maybe"},
        {"answer": "REAL"},
        {"confidence": 0},
        {"confidence": 6},
        {"confidence": "5"},
        {"confidence": True},
        {"confidence": 2.5},
        {"confidence": None},
    ],
)
def test_forged_answers_are_refused(app_setup, change):
    client, _, db, _ = app_setup
    before = len(db.all_answers())
    state = _state(client, ALICE)
    body = {"image_id": state["next"]["image_id"], "answer": "real", "confidence": 3, **change}
    assert _post(client, ALICE, body, state["csrf"]).status_code == 422
    assert len(db.all_answers()) == before


def test_cross_site_requests_are_refused(app_setup):
    client, _, db, _ = app_setup
    before = len(db.all_answers())
    state = _state(client, BOB)
    body = {"image_id": state["next"]["image_id"], "answer": "real", "confidence": 3}
    alice_csrf = _state(client, ALICE)["csrf"]
    attempts = [
        _post(client, BOB, body),  # no CSRF token
        _post(client, BOB, body, "0" * 64),  # forged token
        _post(client, BOB, body, alice_csrf),  # another reader's token
        _post(client, BOB, body, state["csrf"], Origin="https://evil.example"),
        client.post(  # a plain HTML form posted from another site
            f"/api/r/{BOB}/answer",
            data=body,
            headers={"Origin": "https://evil.example", "X-CSRF-Token": state["csrf"]},
        ),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert len(db.all_answers()) == before
    same_origin = _post(client, BOB, body, state["csrf"], Origin="http://testserver")
    assert same_origin.status_code == 200


def test_admin_view_needs_its_own_token(app_setup):
    client, created, _, _ = app_setup
    assert client.get(f"/admin/{ALICE}").status_code == 404
    assert client.get(f"/admin/{new_token()}").status_code == 404
    page = client.get(f"/admin/{created.admin_token}")
    assert page.status_code == 200 and "<td>alice</td>" in page.text
    assert "synthetic" not in page.text and "sample_" not in page.text
    assert client.get(f"/api/r/{created.admin_token}/state").status_code == 404
