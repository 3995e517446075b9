"""The Try-it page's results: each generated piece kept in memory under an unguessable id, so it has its own
URL (`/result/<id>`), plays and downloads again, and stays listed for the visit that made it.

A visit is the list of result ids in the browser's `conchshell_visit` cookie (newest first, at most
VISIT_LIMIT). The store keeps the newest `capacity` results of all visits (about 0.5 MB each); older
ones are dropped and their URLs answer 404 with a one-line page.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from conchshell.web.composer import ComposedPiece

VISIT_COOKIE = "conchshell_visit"
VISIT_LIMIT = 12


@dataclass
class Result:
    """One upload's outcome: its file name, the picture the model saw (PNG bytes) and the piece."""

    id: str
    name: str
    picture_png: bytes
    piece: ComposedPiece

    @property
    def stem(self) -> str:
        stem = self.name.rsplit(".", 1)[0] if "." in self.name else self.name
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "picture"


class ResultStore:
    """id → Result, the newest `capacity` kept."""

    def __init__(self, capacity: int = 200):
        self.capacity = capacity
        self._results: OrderedDict[str, Result] = OrderedDict()

    def add(self, name: str, picture_png: bytes, piece: ComposedPiece) -> Result:
        result = Result(secrets.token_urlsafe(9), name, picture_png, piece)
        self._results[result.id] = result
        while len(self._results) > self.capacity:
            self._results.popitem(last=False)
        return result

    def get(self, result_id: str) -> Result | None:
        return self._results.get(result_id)


def visit_ids(cookie: str | None) -> list[str]:
    """The visit cookie → its result ids, newest first."""
    return [part for part in (cookie or "").split(".") if part][:VISIT_LIMIT]


def with_result(cookie: str | None, result_id: str) -> str:
    """The visit cookie with `result_id` added in front."""
    return ".".join([result_id, *[i for i in visit_ids(cookie) if i != result_id]][:VISIT_LIMIT])
