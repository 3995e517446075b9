"""Picture → 8 s piano piece: the inference API behind `conchshell generate`, `evaluate` and the benchmark.

    picture uint8 [H,W,3] → to_tensor [B,3,224,224] in [0,1]
      → ImageBranch (TCNN normalisation → TCNN time path → Algorithm 1 → frozen I3D)
                                           → st [B,C_st,T'], probs [B,C]; label = argmax probs
                                             (C_st = 1024 for i3d.arch inception, 2048 for r50)
      → Generator G_level(st, label)       → latent [B,64,T_L]
      → JukeboxCodec.quantise (nearest codebook entry, no straight-through)
      → JukeboxCodec.decode                → wave [B,T] at the audio spec G was trained on (T = rate · seconds)

`load_pipeline(models_dir)` reads models/tcnn.pt, models/vqvae.pt and models/gan.pt; the I3D is rebuilt
exactly as `encode_images` built it (params.yaml's i3d.arch and i3d.checkpoint, or the seeded random init).

`plan_outputs(pictures, out)` decides and checks every wav's destination before any model loads: it never
names a folder, an input picture or (without `overwrite`) an existing file, and never the same file twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from conchshell.audio_spec import PAPER, AudioSpec
from conchshell.config import LEVELS
from conchshell.data.images import read_picture, to_tensor
from conchshell.errors import ConchError
from conchshell.models.generator import Generator
from conchshell.models.i3d import build_i3d, feature_dim
from conchshell.models.image_branch import ImageBranch
from conchshell.models.jukebox.checkpoint import load_vqvae
from conchshell.models.jukebox.codec import JukeboxCodec


def synthesise(
    generator: Generator, codec: JukeboxCodec, level: str | int, st: torch.Tensor, label: torch.Tensor, num_samples: int
) -> torch.Tensor:
    """S-T features st [B,C_st,T'] + label long [B] → wave [B, num_samples] (G → quantise → decode)."""
    z = generator(st, label)
    z_q, _ = codec.quantise(z, level, straight_through=False)
    return codec.decode(z_q, level, num_samples)


def fold_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every weight-norm parametrisation in `module` by its current weight (inference only).

    The generator's convolutions are weight-normalised; at inference, recomputing g·v/‖v‖ on every call is
    wasted work. Returns `module`, changed in place; its outputs do not change.
    """
    from torch.nn.utils import parametrize

    for sub in list(module.modules()):
        if parametrize.is_parametrized(sub):
            for name in list(sub.parametrizations):
                parametrize.remove_parametrizations(sub, name, leave_parametrized=True)
    return module


class Pipeline(nn.Module):
    """`forward(pictures [B,3,224,224] in [0,1]) -> (wave [B,T], label long [B])`, frozen and in eval mode.

    The generator's weight norm is folded into plain weights (`fold_weight_norm`, in place).
    """

    def __init__(
        self,
        branch: ImageBranch,
        generator: Generator,
        codec: JukeboxCodec,
        level: str,
        categories: list[str],
        image_size: int = 224,
        num_samples: int = PAPER.samples,
    ):
        super().__init__()
        self.branch = branch
        self.generator = fold_weight_norm(generator)
        self.codec = codec
        self.level = level
        self.level_index = LEVELS[level]  # the codec's index of `level`, for the ONNX export (fast.py)
        self.categories = list(categories)
        self.image_size = int(image_size)
        self.num_samples = int(num_samples)
        self.sample_rate = codec.audio_rate
        self.eval()
        self.requires_grad_(False)

    def forward(self, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        st, probs = self.branch(pictures)
        label = probs.argmax(-1)
        wave = synthesise(self.generator, self.codec, self.level, st, label, self.num_samples)
        return wave, label


def gan_path(models_dir: str | os.PathLike, level: str | None) -> Path:
    """The generator checkpoint for `level`: models/gan-<level>.pt when present, else models/gan.pt."""
    models_dir = Path(models_dir)
    if level is not None and (models_dir / f"gan-{level}.pt").is_file():
        return models_dir / f"gan-{level}.pt"
    return models_dir / "gan.pt"


def load_pipeline(
    models_dir: str | os.PathLike = "models",
    level: str | None = None,
    device: str = "cpu",
    i3d_checkpoint: str | os.PathLike | None = None,
    i3d_seed: int = 0,
    i3d_arch: str = "inception",
) -> Pipeline:
    """Build the frozen Pipeline from `models_dir` (tcnn.pt, vqvae.pt, gan.pt or gan-<level>.pt).

    `level` (high|low|deep) must be the level the generator was trained for; None takes the generator's.
    `i3d_arch` / `i3d_checkpoint` / `i3d_seed` must be what encode_images used (params.yaml's i3d.arch,
    i3d.checkpoint, seed); the generator must read that arch's feature width.
    """
    from conchshell.training.gan import load_generator  # the GAN helper's loader (contract)
    from conchshell.training.tcnn import load_tcnn

    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ConchError(f"{models_dir}: models folder not found (run `dvc repro` or give --models DIR)")
    path = gan_path(models_dir, level)
    for needed in (path, models_dir / "tcnn.pt", models_dir / "vqvae.pt"):
        if not needed.is_file():
            raise ConchError(f"{needed}: not found (run `dvc repro` to train the models, or give --models DIR)")
    generator, meta = load_generator(path)
    trained = meta.get("level")
    if level is not None and trained != level:
        raise ConchError(
            f"{path}: generator was trained for level {trained}, not {level} "
            f"(train it with `dvc exp run -S level={level}`, or drop --level)"
        )
    level = trained
    tcnn, mean, std, categories = load_tcnn(models_dir / "tcnn.pt")
    if list(meta.get("categories", categories)) != list(categories):
        raise ConchError(f"{path}: trained on other categories than {models_dir / 'tcnn.pt'}; re-run train_gan")
    vqvae = load_vqvae(models_dir / "vqvae.pt")
    audio_spec = AudioSpec(int(meta.get("audio_rate", PAPER.rate)), float(meta.get("seconds", PAPER.seconds)))
    codec = JukeboxCodec(vqvae, vqvae.sample_rate, audio_spec.rate)
    width = int(meta.get("generator_config", {}).get("in_channels", 2048))
    if width != feature_dim(i3d_arch):
        raise ConchError(
            f"{path}: generator reads {width}-channel S-T features but i3d.arch {i3d_arch} gives "
            f"{feature_dim(i3d_arch)}; re-run encode_images and train_gan (or set i3d.arch to the one it was trained on)"
        )
    i3d = build_i3d(i3d_checkpoint, seed=i3d_seed, arch=i3d_arch)
    branch = ImageBranch(tcnn, i3d, mean, std, tcnn.arch)
    num_samples = audio_spec.samples
    if generator.frames != codec.frames(level, num_samples):
        raise ConchError(
            f"{path}: generator makes {generator.frames} frames but {models_dir / 'vqvae.pt'} needs "
            f"{codec.frames(level, num_samples)} at level {level}; re-run train_gan"
        )
    image_size = getattr(tcnn, "image_size", 224)
    return Pipeline(branch, generator, codec, level, categories, image_size, num_samples).to(device)


@dataclass
class Result:
    """One picture's outcome: `wave` float32 [T] and its category, or `error` (one line)."""

    picture: Path
    wave: np.ndarray | None = None
    category: str | None = None
    error: str | None = None


def generate(
    pipeline: Pipeline,
    pictures: Iterable[str | os.PathLike],
    batch_size: int = 1,
    seed: int = 0,
    postprocess: Callable[[np.ndarray, int], np.ndarray] | None = None,
    progress: bool = True,
) -> Iterable[Result]:
    """Yield a Result per picture path, in order; a picture that cannot be read gives a Result with `error`.

    Pictures are read (any Pillow format, EXIF rotation applied) and run through the pipeline in batches
    of `batch_size`; `postprocess(wave [T], rate)` (e.g. denoising) is applied to each wave.
    """
    paths = [Path(p) for p in pictures]
    device = next(pipeline.parameters()).device
    torch.manual_seed(seed)
    bar = tqdm(total=len(paths), desc="generate", unit="picture", disable=not progress or len(paths) < 2)
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        read, results = [], {}
        for k, path in enumerate(batch):
            try:
                read.append((k, read_picture(path, pipeline.image_size)))
            except ConchError as err:
                results[k] = Result(path, error=str(err))
        if read:
            x = to_tensor(np.stack([picture for _, picture in read])).to(device)
            with torch.inference_mode():
                waves, labels = pipeline(x)
            for (k, _), wave, label in zip(read, waves.float().cpu().numpy(), labels.tolist()):
                if postprocess is not None:
                    wave = postprocess(wave, pipeline.sample_rate)
                results[k] = Result(batch[k], np.asarray(wave, np.float32), pipeline.categories[label])
        for k in range(len(batch)):
            bar.update(1)
            yield results[k]
    bar.close()


# -- output planning ------------------------------------------------------------------------------------
def plan_outputs(pictures: list[Path], out: Path, overwrite: bool = False) -> list[Path]:
    """Every picture's wav destination, checked before any model loads; ConchError listing every problem.

    One picture and OUT ending in .wav (and not a folder): OUT itself. Otherwise OUT is a folder
    (created if needed) and picture `x.png` goes to OUT/x.wav; pictures sharing a stem, or whose
    name is taken, get OUT/x-1.wav, x-2.wav, ... so no two pieces share a file (names compared
    case-insensitively, as some file systems do). A destination that is a folder or one of the input
    pictures is refused; an existing file is refused unless `overwrite`. The folder must be writable.
    """
    single = len(pictures) == 1 and out.suffix.lower() == ".wav" and not out.is_dir()
    folder = out.parent if single else out
    _check_folder(folder, out, single)
    targets = [out] if single else _unique_names(pictures, folder)
    inputs = {_file_id(p) for p in pictures} - {None}
    problems = [why for t in targets if (why := _target_problem(t, inputs, overwrite))]
    if problems:
        raise ConchError("\n".join(problems))
    _check_writable(folder)
    return targets


def _unique_names(pictures: list[Path], folder: Path) -> list[Path]:
    """folder/<stem>.wav per picture; later pictures whose name is taken get <stem>-<n>.wav, first free n."""
    taken: set[str] = set()
    names: list[str | None] = [None] * len(pictures)
    for i, picture in enumerate(pictures):  # a picture's own name first, in order ...
        if f"{picture.stem}.wav".casefold() not in taken:
            names[i] = f"{picture.stem}.wav"
            taken.add(names[i].casefold())
    for i, picture in enumerate(pictures):  # ... then numbered names for the rest
        n = 1
        while names[i] is None:
            candidate = f"{picture.stem}-{n}.wav"
            if candidate.casefold() not in taken:
                names[i] = candidate
                taken.add(candidate.casefold())
            n += 1
    return [folder / name for name in names]


def _target_problem(target: Path, inputs: set[tuple[int, int]], overwrite: bool) -> str | None:
    if not os.path.lexists(target):
        return None
    if target.is_dir() and not target.is_symlink():
        return f"{target}: is a folder; a piece is never written over a folder (choose another -o)"
    if _file_id(target) in inputs:
        return f"{target}: is one of the input pictures; it is never overwritten (choose another -o)"
    if not overwrite:
        return f"{target}: already exists (pass --overwrite to replace it, or choose another -o)"
    return None


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` leads to (links followed), None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _check_folder(folder: Path, out: Path, single: bool) -> None:
    """The output folder, or its nearest existing parent, must be a folder."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        why = "several pictures need a folder" if not single and existing == out else "it is not a folder"
        raise ConchError(f"{out}: {existing} is a file, and {why} (-o names a .wav for one picture, else a folder)")


def _check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written there (a probe file, removed at once)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".conchshell-probe-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConchError(f"{folder}: cannot write there ({err.strerror or err})") from err
