"""20 readers answer at once over the loopback address: no answer lost, no error."""

from __future__ import annotations

import threading
import time

import httpx
from _study_fixtures import new_study, study_store
from _study_server import live_server

from usbench.study.database import StudyDatabase
from usbench.study.tokens import new_token
from usbench.study.webapp import build_app

READERS = 20
SECONDS = 20.0  # each reader answers until done or until this much time has passed


def _reader_session(base: str, token: str, deadline: float, acked: list, errors: list) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline:
            state = client.get(f"/api/r/{token}/state")
            if state.status_code != 200:
                errors.append(("state", state.status_code, state.text))
                return
            state = state.json()
            if state["next"] is None:
                return
            image_id = state["next"]["image_id"]
            image = client.get(f"/api/r/{token}/image/{image_id}")
            if image.status_code != 200 or not image.content.startswith(b"\x89PNG"):
                errors.append(("image", image.status_code, image_id))
                return
            answer = "real" if len(acked) % 2 else "synthetic"
            body = {"image_id": image_id, "answer": answer, "confidence": 1 + len(acked) % 5}
            headers = {"X-CSRF-Token": state["csrf"]}
            response = client.post(f"/api/r/{token}/answer", json=body, headers=headers)
            if response.status_code != 200:
                errors.append(("answer", response.status_code, response.text))
                return
            acked.append((token, image_id, answer, body["confidence"]))


def test_twenty_concurrent_readers_lose_nothing(tmp_path):
    store = study_store(tmp_path / "store")
    created = new_study(store, "load", per_run=5, n_real=6)  # 16 images per reader
    db = StudyDatabase(created.paths.database)
    tokens = {f"reader{i:02d}": new_token() for i in range(READERS)}
    for name, token in tokens.items():
        db.add_reader(name, token, None, seed=None)
    acked: list = []
    errors: list = []
    with live_server(build_app(created.paths)) as base:
        deadline = time.monotonic() + SECONDS
        threads = [
            threading.Thread(target=_reader_session, args=(base, t, deadline, acked, errors))
            for t in tokens.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(acked) >= READERS  # every reader got answers through
    names = {token: name for name, token in tokens.items()}
    expected = sorted((names[t], i, a, c) for t, i, a, c in acked)
    stored = sorted((a.reader, a.image_id, a.answer, a.confidence) for a in db.all_answers())
    assert stored == expected  # every acknowledged answer is in the database, nothing else
    for name, done, total in db.progress():  # each reader's answers are a prefix of their order
        assert done == sum(1 for n, *_ in expected if n == name) and done <= total
