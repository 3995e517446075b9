"""The listening test's SQLite database (`listening/ratings.sqlite` by default).

Tables:
    trials   (id, rater, sample, system, experiment, created): one blind trial shown to a rater; `id` is
             an unguessable token, the only thing the page knows, so the system stays hidden.
    ratings  (id, trial UNIQUE, rater, system, sample, experiment, commit_id, i2m, melody, noise, created):
             one row per rated trial; each score an integer 1..5 (CHECK constraint).

Every write is one `BEGIN IMMEDIATE ... COMMIT` transaction on its own connection, so a crash between
two ratings loses nothing committed and two tabs (or two processes) writing at once are serialised by
SQLite's lock, never interleaved. The journal mode stays SQLite's default rollback journal with
synchronous=FULL: a committed rating is in the one database file (no -wal side file), which is what
DVC hashes as the `listening` stage's dependency and what a team commits to keep a study.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from conchshell.errors import ConchError

#: The paper's three scales, in page order: (column, short name).
SCALES = (("i2m", "I2M"), ("melody", "Melody"), ("noise", "Noise"))
#: The systems a trial's piece is drawn from (the evaluate stage's sample tracks).
SYSTEMS = ("generated", "ground_truth", "reconstruction")
COLUMNS = ["id", "trial", "rater", "system", "sample", "experiment", "commit_id", "i2m", "melody", "noise", "created"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    rater TEXT NOT NULL,
    sample TEXT NOT NULL,
    system TEXT NOT NULL,
    experiment TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial TEXT NOT NULL UNIQUE REFERENCES trials(id),
    rater TEXT NOT NULL,
    system TEXT NOT NULL,
    sample TEXT NOT NULL,
    experiment TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    i2m INTEGER NOT NULL CHECK (i2m BETWEEN 1 AND 5),
    melody INTEGER NOT NULL CHECK (melody BETWEEN 1 AND 5),
    noise INTEGER NOT NULL CHECK (noise BETWEEN 1 AND 5),
    created REAL NOT NULL
);
"""


@contextlib.contextmanager
def transaction(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """A connection inside `BEGIN IMMEDIATE`; COMMIT when the block succeeds, ROLLBACK otherwise."""
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()


def create(path: str | os.PathLike) -> Path:
    """Create the database file and its tables if missing (idempotent); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with transaction(path) as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
    except sqlite3.DatabaseError as err:
        raise ConchError(f"{path}: not a usable ratings database ({err})") from err
    return path


def new_trial(path: str | os.PathLike, rater: str, sample: str, system: str, experiment: str) -> str:
    """Record a trial shown to `rater` and return its token."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}")
    token = secrets.token_urlsafe(12)
    with transaction(path) as db:
        db.execute(
            "INSERT INTO trials (id, rater, sample, system, experiment, created) VALUES (?, ?, ?, ?, ?, ?)",
            (token, rater, sample, system, experiment, time.time()),
        )
    return token


def trial(path: str | os.PathLike, token: str) -> dict | None:
    """The trial row for `token` ({id, rater, sample, system, experiment}), or None."""
    db = sqlite3.connect(path, timeout=30.0)
    try:
        row = db.execute("SELECT id, rater, sample, system, experiment FROM trials WHERE id = ?", (token,)).fetchone()
    finally:
        db.close()
    return None if row is None else dict(zip(("id", "rater", "sample", "system", "experiment"), row))


def record_rating(path: str | os.PathLike, token: str, scores: dict[str, int], commit_id: str) -> bool:
    """Store the rating of trial `token` in one transaction; False when that trial was already rated.

    `scores` maps each SCALES column to an int 1..5. Raises ValueError for an unknown trial or bad scores.
    """
    for column, _ in SCALES:
        value = scores.get(column)
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"{column}: choose a score from 1 to 5")
    with transaction(path) as db:
        row = db.execute("SELECT rater, system, sample, experiment FROM trials WHERE id = ?", (token,)).fetchone()
        if row is None:
            raise ValueError("unknown trial")
        if db.execute("SELECT 1 FROM ratings WHERE trial = ?", (token,)).fetchone():
            return False
        db.execute(
            "INSERT INTO ratings (trial, rater, system, sample, experiment, commit_id, i2m, melody, noise, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (token, *row, commit_id, scores["i2m"], scores["melody"], scores["noise"], time.time()),
        )
    return True


def rated_pairs(
    path: str | os.PathLike, experiment: str
) -> tuple[set[tuple[str, str, str]], dict[tuple[str, str], int]]:
    """For `experiment`: the (rater, sample, system) triples already rated, and ratings per (sample, system)."""
    db = sqlite3.connect(path, timeout=30.0)
    try:
        rows = db.execute("SELECT rater, sample, system FROM ratings WHERE experiment = ?", (experiment,)).fetchall()
    finally:
        db.close()
    counts: dict[tuple[str, str], int] = {}
    for _, sample, system in rows:
        counts[(sample, system)] = counts.get((sample, system), 0) + 1
    return {tuple(r) for r in rows}, counts


def read_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """All ratings as a DataFrame with COLUMNS (empty when the file does not exist). Opens read-only."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "ratings" not in tables:
                return pd.DataFrame(columns=COLUMNS)
            rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM ratings ORDER BY id").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise ConchError(f"{path}: not a readable ratings database ({err})") from err
    return pd.DataFrame(rows, columns=COLUMNS)
