"""The Try-it page's examples: one val picture per category from the prepared data's manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from conchshell.data.manifest import read_manifest
from conchshell.errors import ConchError


@dataclass(frozen=True)
class Example:
    """A clickable example: manifest id, category id and the picture file."""

    id: str
    category: str
    picture: Path


def load_examples(prepared_dir: str | os.PathLike) -> dict[str, Example]:
    """{id: Example}, the first val picture (by id) of each category whose file exists; {} without data."""
    prepared_dir = Path(prepared_dir)
    try:
        manifest = read_manifest(prepared_dir)
    except (ConchError, OSError):
        return {}
    val = manifest[manifest["split"] == "val"].sort_values("id")
    examples = {}
    for category, rows in val.groupby("category", sort=True):
        for sample, image in zip(rows["id"], rows["image"]):
            if (prepared_dir / image).is_file():
                examples[sample] = Example(sample, str(category), prepared_dir / image)
                break
    return examples
