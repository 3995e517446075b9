"""One warm Pipeline behind a one-slot queue: generation requests run one at a time, in arrival order.

The pipeline is loaded once, on the worker thread, when the app starts (the first job in the queue), and
kept for every request. Each request is a job on a single-thread executor, so concurrent uploads wait
their turn instead of running the model (and matplotlib, which is not thread-safe) in parallel; more
than `max_waiting` jobs waiting at once are refused with a "busy" message rather than piling up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conchshell.errors import ConchError


@dataclass
class ComposedPiece:
    """One generated piece: category, wave float32 [T] at `rate`, its 16-bit WAV bytes and mel PNG bytes."""

    category: str
    wave: np.ndarray
    rate: int
    wav: bytes
    mel_png: bytes


class Busy(ConchError):
    """Too many generation requests are already waiting."""


class Composer:
    """`await compose(picture uint8 [S,S,3]) -> ComposedPiece`, queued; `state` is loading | ready | an error line."""

    def __init__(
        self,
        models: str | os.PathLike,
        params: str | os.PathLike,
        level: str | None = None,
        device: str = "cpu",
        max_waiting: int = 32,
    ):
        self.models, self.params = Path(models), Path(params)
        self.level, self.device, self.max_waiting = level, device, max_waiting
        self.state = "loading"
        self.waiting = 0
        self.image_size = 224
        self._pipeline = None
        self._seed = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="composer")
        self._executor.submit(self._load)

    def _load(self) -> None:
        from conchshell.inference import engine

        try:
            if not Path(self.models).is_dir():
                raise ConchError(f"{self.models}: models folder not found (run `dvc repro`, or give --models DIR)")
            checkpoint, seed, arch = engine.pipeline_settings(self.params)
            self._pipeline = engine.load(
                self.models, self.level, self.device, checkpoint, seed, arch
            )  # ONNX Runtime where it can
            self._seed, self.image_size, self.state = seed, self._pipeline.image_size, "ready"
        except ConchError as err:
            self.state = str(err)
        except Exception as err:  # noqa: BLE001 - shown on the page; the listening test still works
            self.state = f"{self.models}: the models could not be loaded ({type(err).__name__}: {err})"

    async def compose(self, picture: np.ndarray) -> ComposedPiece:
        """Queue one picture; raises Busy when the queue is full, ConchError when no model is loaded."""
        if self.waiting >= self.max_waiting:
            raise Busy(f"{self.waiting} pictures are already waiting; try again in a minute")
        self.waiting += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(self._compose, picture))
        finally:
            self.waiting -= 1

    def _compose(self, picture: np.ndarray) -> ComposedPiece:
        from conchshell.evaluation.report import spectrogram_png, wav_bytes

        if self._pipeline is None:
            raise ConchError(self.state)
        if "torch" in sys.modules:  # the eager pipeline: the models draw nothing at inference, but any draw is seeded
            sys.modules["torch"].manual_seed(self._seed)
        waves, labels = self._pipeline.run(picture[None])
        wave = waves[0]
        rate = self._pipeline.sample_rate
        category = self._pipeline.categories[int(labels[0])]
        return ComposedPiece(
            category,
            wave,
            rate,
            wav_bytes(wave, rate),
            spectrogram_png(wave, rate, f"{category}, {len(wave) / rate:.0f} s"),
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
