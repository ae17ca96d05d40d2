"""The answers database of one reader study: SQLite in WAL mode, one commit per answer.

Tables: ``meta`` (study name, mode, secret, admin token digest), ``images`` (the trials:
opaque id and size; no file names, no truth), ``pair_images`` (two-alternative studies:
the left and right image of each trial), ``readers`` (name and token digest),
``assignments`` (the trials of each reader in that reader's shuffled order) and
``answers`` (one row per reader and trial, never updated). A trial is one image
(``single`` mode: answer ``real``/``synthetic``) or a pair (``2afc`` mode: answer the
side, ``left``/``right``, that shows the synthetic image). ``synchronous=FULL``: an
answer acknowledged to the browser survives a power cut. The key (which image is real)
is not in this database.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usbench.study.tokens import token_digest

ANSWERS = {"single": ("real", "synthetic"), "2afc": ("left", "right")}
SIDES = ("left", "right")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY, width INTEGER NOT NULL, height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pair_images (
    trial_id TEXT NOT NULL REFERENCES images(image_id),
    side TEXT NOT NULL CHECK (side IN ('left', 'right')),
    image_id TEXT NOT NULL UNIQUE,
    PRIMARY KEY (trial_id, side)
);
CREATE TABLE IF NOT EXISTS readers (
    reader_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    reader_id INTEGER NOT NULL REFERENCES readers(reader_id),
    position INTEGER NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(image_id),
    PRIMARY KEY (reader_id, position),
    UNIQUE (reader_id, image_id)
);
CREATE TABLE IF NOT EXISTS answers (
    reader_id INTEGER NOT NULL REFERENCES readers(reader_id),
    image_id TEXT NOT NULL REFERENCES images(image_id),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'synthetic', 'left', 'right')),
    confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    answered_at TEXT NOT NULL,
    PRIMARY KEY (reader_id, image_id),
    FOREIGN KEY (reader_id, image_id) REFERENCES assignments(reader_id, image_id)
);
"""


class AnswerRefused(ValueError):
    """An answer the study does not accept; ``status`` is the HTTP status to reply with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reader:
    """One reader: database id, name and the image ids in their order."""

    reader_id: int
    name: str
    image_ids: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """One stored answer (``confidence`` 1 = guessing … 5 = certain)."""

    reader: str
    image_id: str
    answer: str
    confidence: int
    comment: str
    answered_at: str


class StudyDatabase:
    """``study.sqlite`` of one study; each method opens and closes its own connection,
    so one object serves many threads of the web app."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction (commit on success, roll back on error) on a WAL connection."""
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            with con:
                yield con
        finally:
            con.close()

    def initialise(
        self,
        meta: dict[str, str],
        images: Sequence[tuple[str, int, int]],
        pairs: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Create the tables, the ``meta`` entries, the ``(trial id, width, height)`` rows
        and, in ``2afc`` mode, the ``(trial id, side, image id)`` rows."""
        with self.connect() as con:
            con.executescript(_SCHEMA)
            con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            con.executemany("INSERT INTO images VALUES (?, ?, ?)", images)
            con.executemany("INSERT INTO pair_images VALUES (?, ?, ?)", pairs)

    def mode(self) -> str:
        """``single`` (one image per trial) or ``2afc`` (a pair per trial)."""
        return self.meta("mode")

    def pair_image(self, trial_id: str, side: str) -> str | None:
        """The id of the image shown on ``side`` of a ``2afc`` trial (``None`` if none)."""
        with self.connect() as con:
            row = con.execute(
                "SELECT image_id FROM pair_images WHERE trial_id = ? AND side = ?",
                (trial_id, side),
            ).fetchone()
        return None if row is None else row[0]

    def meta(self, key: str) -> str:
        """One ``meta`` value (``name``, ``secret``, ``admin_sha256``, ``created_at``)."""
        with self.connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise LookupError(f"{self.path} has no {key!r}; is it a usbench study database?")
        return row[0]

    def image_ids(self) -> list[str]:
        """Every image id, sorted (the ids are random, so this order reveals nothing)."""
        with self.connect() as con:
            return [r[0] for r in con.execute("SELECT image_id FROM images ORDER BY image_id")]

    def image_size(self, image_id: str) -> tuple[int, int]:
        """``(width, height)`` of one image."""
        with self.connect() as con:
            row = con.execute(
                "SELECT width, height FROM images WHERE image_id = ?", (image_id,)
            ).fetchone()
        if row is None:
            raise LookupError(f"no image {image_id!r}")
        return int(row[0]), int(row[1])

    def add_reader(self, name: str, token: str, n_images: int | None, seed: int | None) -> Reader:
        """Register a reader with their own shuffled order of all images (or of a random
        subset of ``n_images``). ``seed`` fixes the order (tests); ``None`` = random."""
        ids = self.image_ids()
        if n_images is not None and not 1 <= n_images <= len(ids):
            raise ValueError(f"--images must be between 1 and {len(ids)}, got {n_images}")
        rng = random.Random(seed) if seed is not None else random.SystemRandom()
        order = rng.sample(ids, n_images or len(ids))
        now = _now()
        try:
            with self.connect() as con:
                cur = con.execute(
                    "INSERT INTO readers (name, token_sha256, created_at) VALUES (?, ?, ?)",
                    (name, token_digest(token), now),
                )
                reader_id = int(cur.lastrowid)
                con.executemany(
                    "INSERT INTO assignments VALUES (?, ?, ?)",
                    [(reader_id, i, image_id) for i, image_id in enumerate(order)],
                )
        except sqlite3.IntegrityError as err:
            raise ValueError(
                f"a reader called {name!r} exists already; choose another name"
            ) from err
        return Reader(reader_id, name, tuple(order))

    def reader_by_token(self, token: str) -> Reader | None:
        """The reader whose token this is, or ``None``."""
        with self.connect() as con:
            row = con.execute(
                "SELECT reader_id, name FROM readers WHERE token_sha256 = ?",
                (token_digest(token),),
            ).fetchone()
            if row is None:
                return None
            ids = con.execute(
                "SELECT image_id FROM assignments WHERE reader_id = ? ORDER BY position", (row[0],)
            ).fetchall()
        return Reader(int(row[0]), row[1], tuple(r[0] for r in ids))

    def answered(self, reader: Reader) -> dict[str, Answer]:
        """The reader's own answers by image id."""
        return {a.image_id: a for a in self._answers("WHERE a.reader_id = ?", (reader.reader_id,))}

    def all_answers(self) -> list[Answer]:
        """Every answer of every reader, in the order they were given."""
        return self._answers("", ())

    def _answers(self, where: str, args: tuple[Any, ...]) -> list[Answer]:
        query = (
            "SELECT r.name, a.image_id, a.answer, a.confidence, a.comment, a.answered_at "
            f"FROM answers a JOIN readers r USING (reader_id) {where} ORDER BY a.rowid"
        )
        with self.connect() as con:
            return [Answer(*row) for row in con.execute(query, args)]

    def record_answer(
        self, reader: Reader, image_id: str, answer: str, confidence: int, comment: str
    ) -> Answer:
        """Store one answer for the reader's next unanswered image, in one transaction.

        Refused (:class:`AnswerRefused`): an image outside the reader's set (403), an
        image already answered — a replay — or not the next one in the reader's order
        (409), an answer not of the study's mode (real/synthetic, or left/right) or a
        confidence outside 1–5 (422).
        """
        allowed = ANSWERS[self.mode()]
        if answer not in allowed:
            raise AnswerRefused(f"answer must be {' or '.join(map(repr, allowed))}", 422)
        if not 1 <= confidence <= 5:
            raise AnswerRefused("confidence must be an integer from 1 to 5", 422)
        if image_id not in reader.image_ids:
            raise AnswerRefused("this image is not in your set", 403)
        stored = Answer(reader.name, image_id, answer, confidence, comment[:2000], _now())
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")  # one writer at a time decides what "next" is
            done = {
                r[0]
                for r in con.execute(
                    "SELECT image_id FROM answers WHERE reader_id = ?", (reader.reader_id,)
                )
            }
            if image_id in done:
                raise AnswerRefused("this image has been answered already", 409)
            expected = next((i for i in reader.image_ids if i not in done), None)
            if image_id != expected:
                raise AnswerRefused("answers must follow the order of your images", 409)
            con.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (
                    reader.reader_id,
                    image_id,
                    answer,
                    confidence,
                    stored.comment,
                    stored.answered_at,
                ),
            )
        return stored

    def progress(self) -> list[tuple[str, int, int]]:
        """``(reader name, answered, assigned)`` for every reader."""
        query = (
            "SELECT r.name, (SELECT COUNT(*) FROM answers a WHERE a.reader_id = r.reader_id), "
            "(SELECT COUNT(*) FROM assignments s WHERE s.reader_id = r.reader_id) "
            "FROM readers r ORDER BY r.reader_id"
        )
        with self.connect() as con:
            return [(n, int(a), int(t)) for n, a, t in con.execute(query)]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
