"""Shared fixtures: small files the tests make themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """`gpu` tests skip, saying why, where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo_root() -> Path:
    """The repository root (where params.yaml and dvc.yaml live)."""
    return REPO


def tone(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A sine, float32 [T] or [T, channels]."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


@pytest.fixture
def bop_root(tmp_path) -> Path:
    """A valid BOP folder: categories a and b, 4 pictures each, 2 pieces each (2 pictures per piece)."""
    root = tmp_path / "bop"
    rows = ["image,audio,category"]
    for c, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (root / "images" / c).mkdir(parents=True)
        (root / "audio").mkdir(exist_ok=True)
        for k in range(2):
            sf.write(root / "audio" / f"{c}{k}.wav", tone(2.0, 22050, 220.0 * (k + 1), channels=2), 22050)
        for j in range(4):
            Image.new("RGB", (160, 120), colour).save(root / "images" / c / f"p{j}.png")
            rows.append(f"images/{c}/p{j}.png,audio/{c}{j % 2}.wav,{c}")
    (root / "annotations.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny models (thread start-up costs more than it saves); set back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path_factory, monkeypatch):
    """The fast path's ONNX graph cache goes to a per-session temporary folder, never to ~/.cache."""
    monkeypatch.setenv("CONCHSHELL_CACHE", str(tmp_path_factory.getbasetemp() / "onnx-cache"))
