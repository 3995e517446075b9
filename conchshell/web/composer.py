"""One warm Pipeline behind a one-slot queue: generation requests run one at a time, in arrival order.

The pipeline is loaded once, on the worker thread, when the app starts (the first job in the queue), and
kept for every request. Each request is a job on a single-thread executor, so concurrent uploads wait
their turn instead of running the model (and matplotlib, which is not thread-safe) in parallel; more
than `max_waiting` jobs waiting at once are refused with a "busy" message rather than piling up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conchshell.errors import ConchError


@dataclass
class ComposedPiece:
    """One generated piece: the TCNN's category and its softmax probability, wave float32 [T] at `rate`,
    the options it was made with, its 16-bit WAV bytes and mel-spectrogram PNG bytes."""

    category: str
    confidence: float
    wave: np.ndarray
    rate: int
    seed: int
    denoise: bool
    level: str
    wav: bytes
    mel_png: bytes


@dataclass(frozen=True)
class Options:
    """What a request may choose, as `conchshell generate` does: seed (None: params.yaml's), --denoise, --level."""

    seed: int | None = None
    denoise: bool = False
    level: str | None = None


class Busy(ConchError):
    """Too many generation requests are already waiting."""


class Composer:
    """`async with queued(): await compose(picture uint8 [S,S,3], Options) -> ComposedPiece`; `state` is loading | ready | an error line.

    `levels`: the Jukebox levels with a trained generator in the models folder (models/gan-<level>.pt);
    the pipeline of another level than the default is loaded on first use and kept.
    """

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
        self._pipelines: dict[str, object] = {}
        self._seed = 0
        self.levels = sorted(p.stem[len("gan-") :] for p in self.models.glob("gan-*.pt"))
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="composer")
        self._loading = self._executor.submit(self._load)

    def _load(self) -> None:

        try:
            if not Path(self.models).is_dir():
                raise ConchError(f"{self.models}: models folder not found (run `dvc repro`, or give --models DIR)")
            self._pipeline = self._load_level(self.level)  # ONNX Runtime where it can
            self._pipelines[self._pipeline.level] = self._pipeline
            self.image_size, self.state = self._pipeline.image_size, "ready"
        except ConchError as err:
            self.state = str(err)
        except Exception as err:  # noqa: BLE001 - shown on the page; the listening test still works
            self.state = f"{self.models}: the models could not be loaded ({type(err).__name__}: {err})"

    def _load_level(self, level: str | None):
        from conchshell.inference import engine

        checkpoint, seed, arch = engine.pipeline_settings(self.params)
        self._seed = seed
        return engine.load(self.models, level, self.device, checkpoint, seed, arch)

    @property
    def seed(self) -> int:
        """The default seed: params.yaml's, as `conchshell generate` without --seed."""
        return self._seed

    @contextlib.asynccontextmanager
    async def queued(self):
        """One request's place in the queue: Busy when `max_waiting` already wait; entered once the models are
        loaded (or failed to), so `image_size` is the model's, not the default, for an upload made while loading."""
        if self.waiting >= self.max_waiting:
            raise Busy(f"{self.waiting} pictures are already waiting; try again in a minute")
        self.waiting += 1
        try:
            await asyncio.wrap_future(self._loading)
            yield
        finally:
            self.waiting -= 1

    async def compose(self, picture: np.ndarray, options: Options = Options()) -> ComposedPiece:
        """Compose one picture on the worker, after the jobs before it; call it inside `queued()`.
        Raises ConchError when no model is loaded."""
        return await asyncio.wrap_future(self._executor.submit(self._compose, picture, options))

    def _compose(self, picture: np.ndarray, options: Options) -> ComposedPiece:
        from conchshell.evaluation.report import wav_bytes
        from conchshell.web.spectrogram import spectrogram_png

        pipeline = self._pipeline_for(options.level)
        seed = self._seed if options.seed is None else options.seed
        if "torch" in sys.modules:  # the eager pipeline: the models draw nothing at inference, but any draw is seeded
            sys.modules["torch"].manual_seed(seed)
        wave, label, probability = classify_and_play(pipeline, picture)
        rate = pipeline.sample_rate
        if options.denoise:
            from conchshell.audio.denoise import denoise

            wave = denoise(wave, rate)
        category = pipeline.categories[label]
        return ComposedPiece(
            category,
            probability,
            wave,
            rate,
            seed,
            options.denoise,
            pipeline.level,
            wav_bytes(wave, rate),
            spectrogram_png(wave, rate, f"{readable(category)}, {len(wave) / rate:.0f} s"),
        )

    def _pipeline_for(self, level: str | None):
        if self._pipeline is None:
            raise ConchError(self.state)
        if level is None or level == self._pipeline.level:
            return self._pipeline
        if level not in self.levels:
            raise ConchError(f"level {level}: no trained generator (models/gan-{level}.pt) in {self.models}")
        if level not in self._pipelines:
            self._pipelines[level] = self._load_level(level)
        return self._pipelines[level]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def readable(category: str) -> str:
    """A category id as people write it: snowy_mountains → Snowy mountains."""
    return category.replace("_", " ").strip().capitalize()


def classify_and_play(pipeline, picture: np.ndarray) -> tuple[np.ndarray, int, float]:
    """picture uint8 [S,S,3] → (wave float32 [T], label, the TCNN's softmax probability of label).

    The ONNX bundle gives probs [1,C] with the wave; the eager pipeline runs, then the TCNN classifier
    alone (not the I3D) gives the probability.
    """
    if hasattr(pipeline, "outputs"):
        out = pipeline.outputs(picture[None])
        label = int(out["label"][0])
        return out["wave"][0], label, float(out["probs"][0, label])
    import torch

    from conchshell.inference.pipeline import to_tensor

    waves, labels = pipeline.run(picture[None])
    label = int(labels[0])
    with torch.inference_mode():
        branch = pipeline.branch
        x = branch.preprocess(to_tensor(picture[None]).to(next(branch.parameters()).device))
        probability = float(torch.softmax(branch.tcnn.classify(x), dim=-1)[0, label])
    return waves[0], label, probability
