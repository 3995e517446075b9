"""Typed view of params.yaml.

Every section is a frozen dataclass; `load_config()` reads the YAML, rejects unknown keys, wrong
types and bad values with a one-line ConchError naming the key (`gan.batch_size: must be > 0, got -1`),
and fills defaults for keys the file leaves out. The defaults are params.yaml's values (a test holds them
equal), so a key left out means what the repository's params.yaml says.

A field's metadata may carry:
  choices  - the allowed values (`level: high | low | deep`)
  min      - the smallest allowed number (inclusive); `min_exclusive` for a strict bound
  max      - the largest allowed number (inclusive); `why` says what the bound protects (the machine's memory)
  exists   - the value, when not null, must name an existing file or folder
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conchshell.audio.spec import PAPER, PESQ_MODES, AudioSpec
from conchshell.errors import ConchError

#: Paper level name → Jukebox level index (0 = bottom, hop 8; 2 = top, hop 128). Only the codec and the
#: feature store turn a name into an index (JukeboxCodec.index, PairDataset); everything else passes the name.
LEVELS: dict[str, int] = {"high": 2, "low": 1, "deep": 0}
IMAGE_ENCODERS = ("tcnn6", "tcnn18")
#: I3D architectures (conchshell.models.i3d.ARCHS; repeated here so reading params imports no model code).
I3D_ARCHS = ("inception", "r50")


def _opt(default, **meta):
    return field(default=default, metadata=meta)


# Upper bounds of sizes and counts: what one 128 GB machine holds, a ~1000-fold margin over the paper's values.
#: Memory grows with the square of the picture side (the TCNN runs at full resolution: 30 G MACs at 224).
_PICTURE = {"max": 1024, "why": "the TCNN runs at full resolution; memory grows with the side squared"}
#: Clip length: every latent, G's Linear to the level's frame count and D grow with it.
_SECONDS = {"max": 60.0, "why": "latents, G and D grow with the clip length"}
_BATCH = {"max": 4096, "why": "one batch must fit in memory"}
_STEPS = {"max": 10_000_000, "why": "a run longer than this is a typo"}
_COUNT = {"max": 100_000, "why": "a larger count is a typo; the data and its features must fit on disk"}
#: Width multiplier of G and D: parameters grow with its square (0.25 demo, 1 paper).
_WIDTH = {"max": 4.0, "why": "G and D parameters grow with the width squared; 4 is 16x the paper's G"}


def _opt_dict(default: dict, **meta):
    """A {name: number ≥ 0} mapping (λ's); a given mapping replaces the default whole."""
    return field(default_factory=lambda: dict(default), metadata={"min": 0, **meta})


def _positive(default, **meta):
    return field(default=default, metadata={"min_exclusive": 0, **meta})


def _sized(default, bound: dict, **meta):
    """A positive size or count with an upper bound (`bound`: max and why)."""
    return field(default=default, metadata={"min_exclusive": 0, **bound, **meta})


@dataclass(frozen=True)
class DataConfig:
    """The `prepare` stage: where pictures and pieces come from and how they are shaped."""

    source: str = _opt("demo", choices=("demo", "bop"))
    bop_root: str = "data/raw"  # checked by the BOP reader, which names every missing file
    pictures_per_category: int = _sized(25, _COUNT)
    pieces_per_category: int = _sized(25, _COUNT)
    val_fraction: float = _opt(0.2, min_exclusive=0, max=0.5)
    sample_rate: int = _opt(PAPER.rate, choices=tuple(PESQ_MODES))
    seconds: float = _sized(PAPER.seconds, _SECONDS)
    image_size: int = _opt(224, min=32, **_PICTURE)

    @property
    def audio(self) -> AudioSpec:
        """The audio spec of the prepared clips (conchshell.audio.spec)."""
        return AudioSpec(self.sample_rate, self.seconds)


@dataclass(frozen=True)
class VQVAEConfig:
    """The Jukebox VQ-VAE: an official checkpoint to import, or the demo preset to train."""

    checkpoint: str | None = _opt(None, exists=True)
    preset: str = _opt("demo", choices=("demo", "jukebox-5b"))
    sample_rate: int = _sized(PAPER.rate, {"max": 192_000, "why": "no audio rate is higher"})
    l_bins: int = _opt(256, min=2, max=32768, why="codes are stored as int16")
    width: int = _sized(16, {"max": 256, "why": "VQ-VAE parameters grow with the width squared"})
    depth: int = _sized(3, {"max": 64, "why": "VQ-VAE compute grows with the depth"})
    steps: int = _opt(1350, min=0, **_STEPS)
    batch_size: int = _sized(4, _BATCH)
    lr: float = _positive(1e-3)
    lr_schedule: str = _opt("cosine", choices=("cosine", "constant"))  # cosine: lr decays to 0 over `steps`
    segment_seconds: float = _sized(0.512, _SECONDS)
    commit: float = _opt(0.02, min=0)
    spectral: float = _opt(0.25, min=0)
    l1: float = _opt(0.1, min=0)  # weight of the waveform L1 term
    mel: float = _opt(2.0, min=0)  # weight of the multi-resolution log-mel term (keeps the notes at the upper levels)
    loudness: float = _opt(1.0, min=0)  # weight of the log-RMS envelope term (keeps the level)
    encode_batch_size: int = _sized(4, _BATCH)


@dataclass(frozen=True)
class TCNNConfig:
    """Training of the TCNN picture classifier (TCNN-6 or TCNN-18, chosen by `image_encoder`)."""

    epochs: int = _sized(30, _COUNT)
    batch_size: int = _sized(16, _BATCH)
    lr: float = _positive(1e-3)
    weight_decay: float = _opt(1e-4, min=0)
    augment: bool = True


@dataclass(frozen=True)
class I3DConfig:
    """The frozen I3D video network that turns time-image features into S-T features."""

    arch: str = _opt("inception", choices=I3D_ARCHS)
    checkpoint: str | None = _opt(None, exists=True)
    batch_size: int = _sized(2, _BATCH)


@dataclass(frozen=True)
class ObjectiveConfig:
    """A G objective: λ per loss term, and whether the wave and mel terms send gradients through the decoder.

    The defaults are the authors' released objective (the `released-code` profile).
    """

    lambdas: dict[str, float] = _opt_dict(
        {"adv": 1.0, "fm": 3.0, "latent": 5.0, "code": 8.0, "wave": 40.0, "mel": 15.0}
    )
    decoder_grad: bool = False


@dataclass(frozen=True)
class GANConfig:
    """The ConchShell GAN on cached features (DESIGN.md, Losses)."""

    profile: str = _opt("paper", choices=("paper", "released-code"))
    seed: int | None = _opt(
        None, min=0
    )  # G's and D's init and data order; null: the top-level seed (ablations vary it alone)
    size: str = _opt("demo", choices=("demo", "paper"))
    width: float = _sized(0.25, _WIDTH)  # width multiplier of G and D in the demo size profile
    steps: int = _opt(1230, min=1, **_STEPS)  # ≥ 1: a run of 0 steps would save an untrained G
    warmup_steps: int = _opt(1200, min=0, **_STEPS)  # ≤ steps; the first steps train G alone on `warmup_lambdas` (no D)
    warmup_target: str = _opt("paired", choices=("paired", "nearest"))  # conchshell/training/targets.py
    out_scale: float | None = _opt(None, min_exclusive=0)  # G's Tanh scale; null: fitted to the level's codebook
    st_dropout: float = _opt(0.5, min=0, max=0.9)  # dropout on G's S-T input while training (not the paper's)
    batch_size: int = _sized(4, _BATCH)
    warmup_lr_g: float | None = _opt(3e-4, min_exclusive=0)  # G's lr during the warm-up; null: lr_g
    lr_g: float = _positive(1e-5)  # the paper's
    lr_d: float = _positive(1e-4)  # the paper: 1e-5
    beta1: float = _opt(0.5, min=0, max=1)
    beta2: float = _opt(0.999, min=0, max=1)
    decay_every: int = _positive(20000)
    gamma_g: float = _opt(0.8, min_exclusive=0, max=1)
    gamma_d: float = _opt(0.9, min_exclusive=0, max=1)
    # G's objective Σ λ[k]·term[k] (keys: conchshell.training.losses.TERMS; a term left out is not computed)
    lambdas: dict[str, float] = _opt_dict({"adv": 0.5, "fm": 3.0, "wave": 40.0, "mel": 15.0})
    decoder_grad: bool = True  # the wave and mel terms send gradients into G through the decoder
    released_code: ObjectiveConfig = field(default_factory=ObjectiveConfig)  # `profile: released-code`
    warmup_lambdas: dict[str, float] = _opt_dict({"latent": 5.0})  # G alone, no D (wave, mel: see losses.warmup_loss)
    loss_window_seconds: float | None = _opt(1.0, min_exclusive=0, **_SECONDS)  # null: the whole clip
    checkpoint_every: int = _positive(50)
    log_every: int = _positive(10)
    sample_every: int = _positive(100)
    num_workers: int = _opt(0, min=0, max=256, why="each worker is a process")
    deterministic: bool = False  # deterministic kernels: a resumed CUDA run bitwise equal (training/gan.py)

    def problem(self) -> str | None:
        """What is wrong across keys (`warmup_steps: must be <= steps ...`), or None."""
        if self.warmup_steps > self.steps:
            return f"warmup_steps: must be <= gan.steps ({self.steps}), got {self.warmup_steps}"
        return None

    def objective(self) -> tuple[dict[str, float], bool]:
        """(λ per term, decoder_grad) of `profile`: `lambdas`/`decoder_grad`, or `released_code`'s."""
        if self.profile == "released-code":
            return dict(self.released_code.lambdas), self.released_code.decoder_grad
        return dict(self.lambdas), self.decoder_grad

    def run_seed(self, seed: int) -> int:
        """The seed of this GAN run: `seed` (G, D, data order, loss windows), or the top-level `seed` when null."""
        return seed if self.seed is None else self.seed


@dataclass(frozen=True)
class EvaluateConfig:
    """The `evaluate` stage: metrics, samples and report."""

    samples: int = _opt(6, min=0, **_COUNT)
    judge_epochs: int = _sized(300, _COUNT)
    batch_size: int = _sized(4, _BATCH)
    max_clips_per_split: int | None = _opt(None, min_exclusive=0)  # null: every clip


@dataclass(frozen=True)
class Config:
    """The whole of params.yaml."""

    seed: int = _opt(0, min=0)
    level: str = _opt("low", choices=tuple(LEVELS))
    image_encoder: str = _opt("tcnn6", choices=IMAGE_ENCODERS)
    data: DataConfig = field(default_factory=DataConfig)
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    tcnn: TCNNConfig = field(default_factory=TCNNConfig)
    i3d: I3DConfig = field(default_factory=I3DConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


def load_config(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate params.yaml; `overrides` maps dotted keys to values (`{"level": "low"}`)."""
    path = Path(path)
    if not path.is_file():
        raise ConchError(f"{path}: parameters file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConchError(f"{path}: not valid YAML{where}") from err
    if not isinstance(raw, dict):
        raise ConchError(f"{path}: expected a mapping of parameters at the top level")
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    return from_dict(raw, source=str(path))


def from_dict(raw: dict[str, Any], source: str = "params") -> Config:
    """Build a validated Config from a plain dict (as YAML gives it)."""
    return _build(Config, raw, prefix="", source=source)


def to_dict(config: Any) -> dict[str, Any]:
    """A config (or section) as plain dicts, e.g. to store inside a checkpoint."""
    return dataclasses.asdict(config)


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _build(cls: type, raw: Any, prefix: str, source: str):
    where = prefix.rstrip(".") or "top level"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConchError(f"{source}: {where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConchError(f"{source}: unknown key {prefix}{unknown[0]!s}; allowed keys here: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], key + ".", source)
        else:
            values[name] = _check_value(key, raw[name], hint, f.metadata, source)
    built = cls(**values)
    problem = built.problem() if hasattr(built, "problem") else None
    if problem:
        raise ConchError(f"{source}: {prefix}{problem}")
    return built


def _check_value(key: str, value: Any, hint: Any, meta: typing.Mapping, source: str) -> Any:
    def fail(why: str) -> ConchError:
        return ConchError(f"{source}: {key}: {why}")

    optional = _is_optional(hint)
    base = _strip_optional(hint)
    if value is None:
        if optional:
            return None
        raise fail("must not be empty (null)")
    if typing.get_origin(base) is dict:
        return _check_mapping(key, value, meta, source)
    coerced = _coerce(value, base)
    if coerced is _BAD:
        raise fail(f"expected {_type_name(base)}{' or null' if optional else ''}, got {value!r}")
    if isinstance(coerced, float) and not math.isfinite(coerced):
        raise fail(f"must be a finite number, got {value!r}")  # NaN passes every bound comparison
    value = coerced
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise fail(f"{value!r} is not allowed; choose one of: {' | '.join(map(str, choices))}")
    if "min" in meta and value < meta["min"]:
        raise fail(f"must be >= {meta['min']}, got {value}")
    if "min_exclusive" in meta and value <= meta["min_exclusive"]:
        raise fail(f"must be > {meta['min_exclusive']}, got {value}")
    if "max" in meta and value > meta["max"]:
        why = f" ({meta['why']})" if "why" in meta else ""
        raise fail(f"must be <= {meta['max']}, got {value}{why}")
    if meta.get("exists") and not Path(value).exists():
        raise fail(f"{value} does not exist (give an existing path, or null)")
    return value


def _check_mapping(key: str, value: Any, meta: typing.Mapping, source: str) -> dict[str, float]:
    """A {name: number} mapping, every number checked as a float field with `meta` is."""
    if not isinstance(value, dict):
        raise ConchError(f"{source}: {key}: expected a mapping of name: number, got {value!r}")
    return {str(name): _check_value(f"{key}.{name}", number, float, meta, source) for name, number in value.items()}


class _Bad:
    pass


_BAD = _Bad()


def _coerce(value: Any, base: Any) -> Any:
    """Accept YAML's natural spellings (an int where a float is wanted); reject everything else."""
    if base is bool:
        return value if isinstance(value, bool) else _BAD
    if base is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if base is float:
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-5" as a string
            try:
                return float(value)
            except ValueError:
                return _BAD
        return _BAD
    if base is str:
        return value if isinstance(value, str) else _BAD
    return value


def _is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _strip_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def _type_name(base: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(base, str(base))
