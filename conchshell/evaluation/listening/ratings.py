"""The listening test's SQLite database (`listening/ratings.sqlite` by default).

Tables (schema version 2, `PRAGMA user_version`):
    meta     (key, value): `session_key`, the random key that signs rater sessions (kept across restarts).
    raters   (id, name, created): one row per signed session; `id` is opaque, `name` any Unicode text.
    trials   (id, rater, position, sample, system, experiment, created): the blind trial shown to a rater at
             a position; `id` is an unguessable token, the only thing the page knows, so the system stays
             hidden. UNIQUE (rater, experiment, position) fixes a reload to the same trial, and UNIQUE
             (rater, experiment, sample, system) lets no rater meet a (sample, system) pair twice.
    ratings  (id, trial UNIQUE, rater, system, sample, experiment, commit_id, played, i2m, melody, noise,
             created): one row per rated trial, UNIQUE (rater, experiment, sample, system); `played` is the
             seconds of the piece the browser reported as heard; each score an integer 1..5 (CHECK).

Every write is one `BEGIN IMMEDIATE ... COMMIT` transaction on its own connection, so a crash between
two ratings loses nothing committed and two tabs (or two processes) writing at once are serialised by
SQLite's lock, never interleaved. The journal mode stays SQLite's default rollback journal with
synchronous=FULL: a committed rating is in the one database file (no -wal side file), which is what
DVC hashes as the `listening` stage's dependency and what a team commits to keep a study.
Any SQLite failure (a read-only or vanished file, a full disk) is a ConchError naming the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from conchshell.errors import ConchError

#: The paper's three scales, in page order: (column, short name).
SCALES = (("i2m", "I2M"), ("melody", "Melody"), ("noise", "Noise"))
#: The systems a trial's piece is drawn from (the evaluate stage's sample tracks).
SYSTEMS = ("generated", "ground_truth", "reconstruction")
COLUMNS = [
    "id",
    "trial",
    "rater",
    "system",
    "sample",
    "experiment",
    "commit_id",
    "played",
    "i2m",
    "melody",
    "noise",
    "created",
]
VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    rater TEXT NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    sample TEXT NOT NULL,
    system TEXT NOT NULL,
    experiment TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (rater, experiment, position),
    UNIQUE (rater, experiment, sample, system)
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial TEXT NOT NULL UNIQUE REFERENCES trials(id),
    rater TEXT NOT NULL,
    system TEXT NOT NULL,
    sample TEXT NOT NULL,
    experiment TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    played REAL NOT NULL,
    i2m INTEGER NOT NULL CHECK (i2m BETWEEN 1 AND 5),
    melody INTEGER NOT NULL CHECK (melody BETWEEN 1 AND 5),
    noise INTEGER NOT NULL CHECK (noise BETWEEN 1 AND 5),
    created REAL NOT NULL,
    UNIQUE (rater, experiment, sample, system)
)
"""


class NotYourTrial(ValueError):
    """A rating posted for a trial issued to another rater (or to no session at all)."""


@contextlib.contextmanager
def transaction(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """A connection inside `BEGIN IMMEDIATE`; COMMIT when the block succeeds, ROLLBACK otherwise.

    SQLite errors other than constraint violations become a ConchError naming the file.
    """
    try:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as err:
        raise _unusable(path, err) from err
    try:
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as err:
        raise _unusable(path, err) from err
    finally:
        db.close()


def _unusable(path, err: Exception) -> ConchError:
    return ConchError(f"{path}: the ratings database cannot be used ({err}); nothing was saved")


def create(path: str | os.PathLike) -> bytes:
    """Create the database file and its tables if missing (idempotent); returns the session-signing key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with transaction(path) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'trials'").fetchone()
            if old and version < VERSION:
                raise ConchError(
                    f"{path}: a ratings database from before rater sessions (schema {version}, this is "
                    f"{VERSION}); move it aside to start a new study, it stays readable by `dvc repro listening`"
                )
            for statement in _SCHEMA.split(";"):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {VERSION}")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('session_key', ?)", (secrets.token_hex(32),))
            key = db.execute("SELECT value FROM meta WHERE key = 'session_key'").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise ConchError(f"{path}: not a usable ratings database ({err})") from err
    return bytes.fromhex(key)


def new_rater(path: str | os.PathLike, name: str) -> str:
    """Register a rater called `name` (any Unicode text) and return the rater's opaque id."""
    rater = secrets.token_urlsafe(12)
    with transaction(path) as db:
        db.execute("INSERT INTO raters (id, name, created) VALUES (?, ?, ?)", (rater, name, time.time()))
    return rater


def rater_name(path: str | os.PathLike, rater: str) -> str | None:
    """The name of rater `rater`, or None for an unknown id."""
    row = _read(path, "SELECT name FROM raters WHERE id = ?", (rater,))
    return row[0][0] if row else None


Chooser = Callable[[set[tuple[str, str]], dict[tuple[str, str], int]], "tuple[str, str] | None"]


def current_trial(path: str | os.PathLike, rater: str, experiment: str, choose: Chooser) -> dict | None:
    """The rater's first unrated trial in `experiment`, created at the next position when there is none.

    `choose(taken, counts)` picks the new trial's (sample, system) given the pairs this rater has met and
    the ratings per pair so far (all raters); None from it (nothing left) means the rater is done → None.
    One transaction: two tabs asking at once get the same trial.
    """
    with transaction(path) as db:
        row = db.execute(
            "SELECT t.id, t.position, t.sample, t.system FROM trials t LEFT JOIN ratings r ON r.trial = t.id "
            "WHERE t.rater = ? AND t.experiment = ? AND r.id IS NULL ORDER BY t.position LIMIT 1",
            (rater, experiment),
        ).fetchone()
        if row is None:
            taken = {
                tuple(r)
                for r in db.execute(
                    "SELECT sample, system FROM trials WHERE rater = ? AND experiment = ?", (rater, experiment)
                )
            }
            counts = {
                (sample, system): n
                for sample, system, n in db.execute(
                    "SELECT sample, system, COUNT(*) FROM ratings WHERE experiment = ? GROUP BY sample, system",
                    (experiment,),
                )
            }
            pair = choose(taken, counts)
            if pair is None:
                return None
            if pair[1] not in SYSTEMS:
                raise ValueError(f"unknown system {pair[1]!r}")
            row = (secrets.token_urlsafe(12), len(taken), *pair)
            db.execute(
                "INSERT INTO trials (id, rater, position, sample, system, experiment, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row[0], rater, row[1], *pair, experiment, time.time()),
            )
    return dict(zip(("id", "position", "sample", "system"), row))


def trial(path: str | os.PathLike, token: str) -> dict | None:
    """The trial row for `token` ({id, rater, position, sample, system, experiment}), or None."""
    fields = ("id", "rater", "position", "sample", "system", "experiment")
    rows = _read(path, f"SELECT {', '.join(fields)} FROM trials WHERE id = ?", (token,))
    return dict(zip(fields, rows[0])) if rows else None


def rated_count(path: str | os.PathLike, rater: str, experiment: str) -> int:
    """How many trials of `experiment` this rater has rated."""
    return _read(path, "SELECT COUNT(*) FROM ratings WHERE rater = ? AND experiment = ?", (rater, experiment))[0][0]


def record_rating(
    path: str | os.PathLike, token: str, rater: str, scores: dict[str, int], played: float, commit_id: str
) -> bool:
    """Store `rater`'s rating of trial `token` in one transaction; False when that pair was already rated.

    `scores` maps each SCALES column to an int 1..5; `played` is the seconds heard. Raises ValueError for an
    unknown trial or bad scores, NotYourTrial when the trial was issued to another rater.
    """
    for column, _ in SCALES:
        value = scores.get(column)
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"{column}: choose a score from 1 to 5")
    try:
        with transaction(path) as db:
            row = db.execute("SELECT rater, system, sample, experiment FROM trials WHERE id = ?", (token,)).fetchone()
            if row is None:
                raise ValueError("unknown trial")
            if row[0] != rater:
                raise NotYourTrial("this trial was given to another rater")
            db.execute(
                "INSERT INTO ratings (trial, rater, system, sample, experiment, commit_id, played, i2m, melody, "
                "noise, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (token, *row, commit_id, float(played), scores["i2m"], scores["melody"], scores["noise"], time.time()),
            )
    except sqlite3.IntegrityError:  # UNIQUE trial / (rater, experiment, sample, system): rated already
        return False
    return True


def _read(path: str | os.PathLike, query: str, args: tuple) -> list[tuple]:
    try:
        db = sqlite3.connect(path, timeout=30.0)
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise _unusable(path, err) from err


def read_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """All ratings as a DataFrame with COLUMNS (empty when the file does not exist). Opens read-only.

    A version-1 database (before rater sessions) reads with `played` empty.
    """
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "ratings" not in tables:
                return pd.DataFrame(columns=COLUMNS)
            have = {r[1] for r in db.execute("PRAGMA table_info(ratings)")}
            columns = [c if c in have else f"NULL AS {c}" for c in COLUMNS]
            rows = db.execute(f"SELECT {', '.join(columns)} FROM ratings ORDER BY id").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise ConchError(f"{path}: not a readable ratings database ({err})") from err
    return pd.DataFrame(rows, columns=COLUMNS)
