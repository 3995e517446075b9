"""Training of the ConchShell GAN on the HDF5 caches (never TCNN, I3D or the Jukebox encoder).

One step: G(st, label) → fake latent [B,64,T]; D's hinge step on (real latent, fake.detach()); G's step
on adversarial + FM + wave + mel (`conchshell.training.losses`). The first `warmup_steps` steps (0 = none) train G
alone on `gan.warmup_lambdas` (the demo: the latent term alone, no D) against `gan.warmup_target`, so G has learnt
which music goes with which picture before D joins (Parallel WaveGAN starts its D late too).
G reads its S-T features standardised by the training pictures' per-channel mean and std (stored in G). G's Tanh scale is fitted to the level's codebook (`gan.out_scale` null), which G's output is snapped to. AdamW betas (beta1, beta2); G at `warmup_lr_g` during the warm-up; StepLR ×gamma_g /
×gamma_d every `decay_every` steps. bf16 autocast for G and D when on a GPU.

Distributed: under `torchrun` (WORLD_SIZE > 1) G and D are wrapped in DDP (NCCL on GPUs, gloo on CPU),
each rank reads its own DistributedSampler shard, rank 0 alone logs (DVCLive) and writes checkpoints.

Resume: `checkpoints/gan/last.pt` (written atomically every `checkpoint_every` steps) holds G, D, both
optimisers and schedulers, the step, the RNG states, the logged history and a hash of everything (`run_sha256`)
that shapes the run except its length (every param but `evaluate`, the content hashes of the inputs and
of the code); a run started again with the same hash continues from it. Data order and loss
windows are functions of (seed, epoch, step, rank), so a resumed run sees the same batches; its DVCLive
logs are rebuilt from the history, so they read as one run even after DVC removed them. The stage
deletes last.pt once models/gan.pt is written: a finished run is never taken for a new one.

models/gan.pt: `level`, `generator` (state dict), `generator_config`, `categories`, `config` (the gan
section), `step`, plus `vqvae_sha256`, `replica_sha256` (G's hash on every rank, all equal) and the audio spec
G was trained on (`AudioSpec.to_dict()`: audio_rate, seconds); the stage adds `i3d` (the I3D identity).
Read by `conchshell.artifacts.checkpoints.load_generator`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from conchshell.config import Config, GANConfig, to_dict
from conchshell.errors import ConchError
from conchshell.inference.ranks import Dist, all_ok, close_distributed, init_distributed  # noqa: F401 (the stage's)
from conchshell.io import load_torch, save_torch, state_dict_sha256
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import Generator, build_generator, generator_config, st_statistics
from conchshell.training.losses import ConchShellLoss, check_terms, is_finite
from conchshell.training.targets import PieceBank

#: gan keys that do not change what a step computes (a resumed run may change them).
RUN_LENGTH_KEYS = ("steps", "checkpoint_every", "log_every", "sample_every", "num_workers")


# -- determinism ---------------------------------------------------------------------------------------
def set_deterministic(on: bool) -> None:
    """`gan.deterministic`: deterministic kernels only (an op without one raises), cuDNN deterministic with
    autotuning off, cuBLAS's fixed workspace. Call before CUDA starts (the stage does, first thing), as cuBLAS
    reads CUBLAS_WORKSPACE_CONFIG once. Off: cuDNN may autotune, and a resumed CUDA run drifts from an
    uninterrupted one by float rounding (the tolerance tests/test_gpu.py states)."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False


def _check_finite(loss: torch.Tensor, who: str, step: int, saved: int, ckpt: Path, env: Dist) -> None:
    """Stop (every rank together: one all-reduce) when a loss is NaN or inf, before any update or save."""
    if all_ok(bool(is_finite(loss)), env):
        return
    raise ConchError(
        f"gan: non-finite {who} loss ({float(loss.detach()):.4g} on rank {env.rank}) at step {step + 1}; stopped before "
        f"updating or saving ({ckpt} holds step {saved}); lower gan.lr_g / gan.lr_d or check the feature caches"
    )


# -- models, losses, optimisers ------------------------------------------------------------------------
def codebook_scale(codec: nn.Module, level: str, untrained: float = 100.0) -> float:
    """1.1 × the largest |entry| of `level`'s codebook: the range G's latent needs before it is quantised
    (`untrained`, the former fixed Tanh × 100, for a codebook that is still all zeros)."""
    largest = float(codec.codebook(level).abs().max())
    return round(1.1 * largest, 4) if largest > 0 else untrained


def build_models(
    cfg: Config, frames: int, num_classes: int, in_channels: int, out_scale: float = 100.0, st_frames: int = 2
) -> tuple[Generator, Discriminator, dict]:
    """(G, D, G's config dict) for `cfg.level` and `cfg.gan.size`, seeded by the run's seed (`gan.seed`, else
    `seed`); G reads S-T features [in_channels, st_frames] (the I3D's: inception [1024, 2], r50 [2048, 9]) and
    bounds its latent by `out_scale`."""
    torch.manual_seed(cfg.gan.run_seed(cfg.seed))
    g_config = generator_config(
        cfg.level,
        frames,
        cfg.gan.size,
        cfg.gan.width,
        in_channels,
        num_classes,
        out_scale=out_scale,
        st_frames=st_frames,
        st_dropout=cfg.gan.st_dropout,
    )
    return build_generator(g_config), Discriminator(**discriminator_config(cfg.gan.size, cfg.gan.width)), g_config


def make_loss(codec: nn.Module, level: str, gan, window_seconds: float | None) -> ConchShellLoss:
    """The ConchShellLoss of `gan.profile`'s objective (its λ's and decoder_grad) and the warm-up's λ's.

    A term whose λ is 0 is not computed; with neither `adv` nor `fm` left, D is never stepped (the
    ablation's "without D" arm)."""
    lambdas, decoder_grad = gan.objective()
    where = "gan.released_code.lambdas" if gan.profile == "released-code" else "gan.lambdas"
    kept = {}
    for name, given in ((where, lambdas), ("gan.warmup_lambdas", gan.warmup_lambdas)):
        try:
            check_terms(given, name)
        except ValueError as err:
            raise ConchError(f"params: {err}") from err
        kept[name] = {term: value for term, value in given.items() if value != 0}
        if not kept[name]:
            raise ConchError(f"params: {name}: every λ is 0 (or none given); G would have nothing to learn")
    return ConchShellLoss(codec, level, kept[where], kept["gan.warmup_lambdas"], decoder_grad, window_seconds)


@dataclass
class GeneratorSchedule:
    """G's lr factor at a step: warmup_lr_g / lr_g during the warm-up, reached by a linear ramp over its
    first eighth (Adam's first steps at the full rate threw G's latent out to the Tanh's bounds at one
    seed in three), then StepLR's ×gamma_g every decay_every steps (a dataclass, not a lambda, so the
    scheduler's state is saved with the checkpoint)."""

    warmup_steps: int
    warmup_factor: float
    decay_every: int
    gamma: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_factor * min(1.0, (step + 1) / max(1, self.warmup_steps // 8))
        return self.gamma ** (step // self.decay_every)


def make_optimisers(g: nn.Module, d: nn.Module, gan) -> tuple:
    """AdamW for G and D (betas (beta1, beta2)) and their schedulers: G at warmup_lr_g (null: lr_g) during
    the warm-up, then both at their lr ×gamma every decay_every steps."""
    betas = (gan.beta1, gan.beta2)
    opt_g = torch.optim.AdamW(g.parameters(), lr=gan.lr_g, betas=betas)
    opt_d = torch.optim.AdamW(d.parameters(), lr=gan.lr_d, betas=betas)
    warmup_factor = (gan.warmup_lr_g or gan.lr_g) / gan.lr_g
    schedule = GeneratorSchedule(gan.warmup_steps, warmup_factor, gan.decay_every, gan.gamma_g)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
    sched_d = torch.optim.lr_scheduler.StepLR(opt_d, gan.decay_every, gan.gamma_d)
    return opt_g, opt_d, sched_g, sched_d


# -- data ----------------------------------------------------------------------------------------------
def batches(dataset: Dataset, batch_size: int, seed: int, start_step: int, env: Dist, workers: int) -> Iterator[dict]:
    """Endless batches of this rank's shard, epoch e shuffled by (seed, e); starts at `start_step`."""
    if len(dataset) == 0:
        raise ConchError("data/features: no training pairs (is the train split empty?)")
    sampler = DistributedSampler(dataset, num_replicas=env.world, rank=env.rank, shuffle=True, seed=seed)
    per_rank = len(sampler)
    batch_size = min(batch_size, per_rank)
    per_epoch = per_rank // batch_size
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        order = list(sampler)[skip * batch_size : per_epoch * batch_size]
        loader = DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=workers)
        yield from loader
        epoch, skip = epoch + 1, 0


def step_rng(seed: int, rank: int, step: int) -> torch.Generator:
    """The RNG of one step's loss window: a function of (seed, rank, step), so resuming repeats it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank * 7_919 + step)


# -- checkpoints ---------------------------------------------------------------------------------------
def run_sha256(cfg: Config, inputs: dict[str, str]) -> str:
    """Hash of what shapes the run: every param but the run's length and `evaluate` (seed, level,
    image_encoder, i3d, tcnn, vqvae, data, gan ...) and `inputs` (name → content hash of what it reads)."""
    params = to_dict(cfg)
    params.pop("evaluate", None)
    params["gan"] = {k: v for k, v in params["gan"].items() if k not in RUN_LENGTH_KEYS}
    blob = json.dumps([params, inputs], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def package_sha256(package: str = "conchshell") -> str:
    """SHA-256 over the source files of every loaded `package` module (by name): the code of this run."""
    digest = hashlib.sha256()
    for name in sorted(n for n in sys.modules if n == package or n.startswith(package + ".")):
        source = getattr(sys.modules[name], "__file__", None)
        if source and Path(source).is_file():
            digest.update(name.encode() + b"\0" + Path(source).read_bytes())
    return digest.hexdigest()


def discard_checkpoint(checkpoint_dir: str | os.PathLike) -> None:
    """Remove `checkpoint_dir/last.pt` once the run's result is written: only an unfinished run resumes."""
    (Path(checkpoint_dir) / "last.pt").unlink(missing_ok=True)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DDP) else model


def rng_states() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps(np.random.get_state()[1].tolist()),
        "python": json.dumps(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.array(json.loads(state["numpy"]), dtype=np.uint32), 624, 0, 0.0))
    random.setstate((3, tuple(json.loads(state["python"])), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(path: Path, step: int, run_id: str, g, d, opts, scheds, history: list[dict]) -> None:
    """Everything a resumed run needs (`history`: the scalars logged so far), written atomically to `path`."""
    save_torch(
        {
            "step": step,
            "fingerprint": run_id,
            "history": history,
            "generator": _unwrap(g).state_dict(),
            "discriminator": _unwrap(d).state_dict(),
            "opt_g": opts[0].state_dict(),
            "opt_d": opts[1].state_dict(),
            "sched_g": scheds[0].state_dict(),
            "sched_d": scheds[1].state_dict(),
            "rng": rng_states(),
        },
        path,
    )


def try_resume(path: Path, run_id: str, g, d, opts, scheds) -> tuple[int, list[dict]]:
    """Load `path` into the models/optimisers when its run hash (key `fingerprint`) matches → (the step to start at, the
    history logged up to it); (0, []) when there is none or it belongs to another run."""
    if not path.is_file():
        return 0, []
    state = load_torch(path, "GAN training checkpoint")
    if state.get("fingerprint") != run_id:
        return 0, []  # made by another run: start afresh (it is overwritten at the first save)
    _unwrap(g).load_state_dict(state["generator"])
    _unwrap(d).load_state_dict(state["discriminator"])
    opts[0].load_state_dict(state["opt_g"])
    opts[1].load_state_dict(state["opt_d"])
    scheds[0].load_state_dict(state["sched_g"])
    scheds[1].load_state_dict(state["sched_d"])
    set_rng_states(state["rng"])
    step = int(state["step"])
    return step, [dict(entry) for entry in state.get("history", []) if entry["step"] <= step]


def gan_checkpoint(cfg: Config, g: nn.Module, g_config: dict, categories: list[str], step: int, **extra) -> dict:
    """The models/gan.pt dict (see the module docstring)."""
    state = {k: v.detach().cpu().clone() for k, v in _unwrap(g).state_dict().items()}
    return {
        "level": cfg.level,
        "generator": state,
        "generator_config": g_config,
        "categories": list(categories),
        "config": to_dict(cfg.gan),
        "step": int(step),
        **extra,
    }


# -- logging -------------------------------------------------------------------------------------------
def spectrogram_image(log_mel: torch.Tensor) -> np.ndarray:
    """log-mel [n_mels, frames] → uint8 greyscale picture [n_mels, frames] (low frequencies at the bottom)."""
    x = log_mel.float()
    x = (x - x.min()) / (x.max() - x.min() + 1e-8)
    return (x.flip(0) * 255).to(torch.uint8).cpu().numpy()


class Logger:
    """DVCLive on rank 0 (no-op elsewhere): scalars per `log_every`, a spectrogram per `sample_every`.

    Always starts the DVCLive folder afresh and first replays `history` (the scalars of the steps a resumed
    run already did, from its checkpoint), so the logs hold every step whatever DVC removed before the run.
    """

    def __init__(self, directory: str | os.PathLike, enabled: bool, history: list[dict] | None = None):
        self.live = None
        self.history: list[dict] = []
        if enabled:
            from dvclive import Live

            self.live = Live(str(directory), resume=False, save_dvc_exp=False, dvcyaml=False)
        for entry in history or []:
            self.scalars(int(entry["step"]), {k: v for k, v in entry.items() if k != "step"})

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self.history.append({"step": int(step), **{k: float(v) for k, v in values.items()}})
        if self.live is None:
            return
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, float(value))
        self.live.next_step()

    def image(self, name: str, picture: np.ndarray) -> None:
        if self.live is not None:
            self.live.log_image(name, picture)

    def close(self) -> None:
        if self.live is not None:
            self.live.end()


# -- the loop ------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    step: int
    resumed_from: int
    last: dict[str, float]


def train_gan(
    cfg: Config,
    dataset: Dataset,
    codec: nn.Module,
    categories: list[str],
    vqvae_sha256: str,
    checkpoint_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
    env: Dist = Dist(),
    *,
    inputs: dict[str, str],
) -> tuple[dict, TrainResult]:
    """Train G and D for `cfg.gan.steps` steps (resuming from `checkpoint_dir/last.pt` when it matches).

    `dataset` yields PairDataset items at `cfg.level`; `codec` is the frozen JukeboxCodec; `inputs` names
    the content hash of every file the run reads (manifest, feature caches, VQ-VAE). Returns the
    models/gan.pt dict (to be written by rank 0) and a summary.
    """
    gan, level = cfg.gan, cfg.level
    sample = dataset[0]
    frames = int(sample["latent"].shape[-1])
    out_scale = gan.out_scale if gan.out_scale is not None else codebook_scale(codec, level)
    st_shape = tuple(int(n) for n in sample["st"].shape)  # [C_st, T']
    g, d, g_config = build_models(cfg, frames, len(categories), st_shape[0], out_scale, st_shape[1])
    g.set_st_statistics(*st_statistics(torch.stack([torch.as_tensor(item["st"]) for item in dataset])))
    g, d, codec = g.to(env.device), d.to(env.device), codec.to(env.device)
    opt_g, opt_d, sched_g, sched_d = make_optimisers(g, d, gan)
    opts, scheds = (opt_g, opt_d), (sched_g, sched_d)
    loss_fn = make_loss(codec, level, gan, gan.loss_window_seconds).to(env.device)

    ckpt_path = Path(checkpoint_dir) / "last.pt"
    run_inputs = {
        **inputs,
        "vqvae_state": vqvae_sha256,
        "pairs": str(len(dataset)),
        "code": package_sha256(),
        "st_channels": str(g_config["in_channels"]),
    }
    run_id = run_sha256(cfg, run_inputs)
    start, history = try_resume(ckpt_path, run_id, g, d, opts, scheds)
    g, d = distribute(g, d, start, ckpt_path, env)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" else nullcontext()
    logger = Logger(live_dir, env.main, history)
    seed = gan.run_seed(cfg.seed)
    data = batches(dataset, gan.batch_size, seed, start, env, gan.num_workers)
    bank = warmup_bank(dataset, gan, start, env)
    steps = Steps(g, d, loss_fn, opts, scheds, autocast, seed, ckpt_path, env, saved=start, bank=bank)
    try:
        last = run_steps(cfg, steps, data, logger, start, run_id)
    finally:
        logger.close()
    final = max(start, gan.steps)
    meta = {"vqvae_sha256": vqvae_sha256, "replica_sha256": _replica_hashes(g, env), **codec.spec.to_dict()}
    return gan_checkpoint(cfg, g, g_config, categories, final, **meta), TrainResult(final, start, last)


def distribute(g: nn.Module, d: nn.Module, start: int, ckpt_path: Path, env: Dist) -> tuple[nn.Module, nn.Module]:
    """G and D in training mode; with several ranks, checked to resume from one step and wrapped in DDP."""
    if env.world > 1:
        ids = [None] * env.world
        dist.all_gather_object(ids, start)
        if len(set(ids)) != 1:
            raise ConchError(f"{ckpt_path}: ranks resumed from different steps {ids}")
        g = DDP(g, device_ids=[env.device.index] if env.device.type == "cuda" else None)
        d = DDP(d, device_ids=[env.device.index] if env.device.type == "cuda" else None)
    g.train(), d.train()
    return g, d


def warmup_bank(dataset: Dataset, gan: GANConfig, start: int, env: Dist) -> PieceBank | None:
    """The warm-up's bank of training pieces when its target is `nearest` and warm-up steps remain, else None."""
    if gan.warmup_target == "nearest" and start < gan.warmup_steps:
        return PieceBank.from_dataset(dataset).to(env.device)
    return None


def run_steps(
    cfg: Config, steps: Steps, data: Iterator[dict], logger: Logger, start: int, run_id: str
) -> dict[str, float]:
    """Steps `start` … gan.steps − 1 (warm-up, then adversarial) on `data`'s batches; rank 0 logs, draws a
    spectrogram and checkpoints (`record`). Returns the last step's terms."""
    gan, env = cfg.gan, steps.env
    last: dict[str, float] = {}
    bar = tqdm(
        range(start, gan.steps), desc=f"train_gan ({cfg.level})", disable=not env.main, initial=start, total=gan.steps
    )
    for step in bar:
        batch = {k: (v.to(env.device) if torch.is_tensor(v) else v) for k, v in next(data).items()}
        last = steps.warmup(batch, step) if step < gan.warmup_steps else steps.adversarial(batch, step)
        if env.main:
            record(cfg, steps, logger, bar, batch, last, step + 1, run_id)
    return last


def record(cfg: Config, steps: Steps, logger: Logger, bar, batch: dict, last: dict, done: int, run_id: str) -> None:
    """After step `done`: log the terms and learning rates, draw a spectrogram, write the resume checkpoint,
    each at its interval (and after the last step)."""
    gan, final = cfg.gan, done == cfg.gan.steps
    if done % gan.log_every == 0 or final:
        lrs = {"lr_g": steps.scheds[0].get_last_lr()[0], "lr_d": steps.scheds[1].get_last_lr()[0]}
        logger.scalars(done, {**last, **lrs})
        bar.set_postfix({k: f"{v:.3f}" for k, v in last.items() if k in ("d_hinge", "g_total")})
    if done % gan.sample_every == 0 or final:
        logger.image("spectrogram.png", _sample_spectrogram(steps.loss_fn, steps.g, batch, cfg.level))
    if done % gan.checkpoint_every == 0 or final:
        save_checkpoint(steps.ckpt, done, run_id, steps.g, steps.d, steps.opts, steps.scheds, logger.history)
        steps.saved = done


@dataclass
class Steps:
    """A training step of either phase, holding what every step shares: G, D, the loss, (opt_g, opt_d),
    (sched_g, sched_d), autocast, the seed, the checkpoint path and the step it holds (`saved`, named when a
    loss turns non-finite), the ranks, and the warm-up's PieceBank (None: the paired piece is the target)."""

    g: nn.Module
    d: nn.Module
    loss_fn: ConchShellLoss
    opts: tuple
    scheds: tuple
    autocast: AbstractContextManager
    seed: int
    ckpt: Path
    env: Dist
    saved: int = 0
    bank: PieceBank | None = None

    def warmup(self, batch: dict, step: int) -> dict[str, float]:
        """G alone on the reconstruction terms (`warmup_loss`) against the paired piece, or with a `bank`, against
        each picture's nearest piece of its category (`conchshell.training.targets`) → the logged terms."""
        with self.autocast:
            fake = self.g(batch["st"], batch["label"]).float()
            if self.bank is not None:
                batch = self.bank.targets(batch, fake)
            rng = step_rng(self.seed, self.env.rank, step)
            loss, terms = self.loss_fn.warmup_loss(batch["latent"], fake, batch["audio"], rng)
        self._descend(loss, self.opts[0], "G warm-up", step)
        self.scheds[0].step()
        return {k: float(v) for k, v in terms.items()}

    def adversarial(self, batch: dict, step: int) -> dict[str, float]:
        """D's hinge step (none when the objective has no D term), then G's step on the profile's objective
        → the logged terms."""
        d_terms = {}
        with self.autocast:
            fake = self.g(batch["st"], batch["label"]).float()
            if self.loss_fn.uses_discriminator:
                d_loss, d_terms = self.loss_fn.discriminator_loss(self.d, batch["latent"], fake)
        if d_terms:
            self._descend(d_loss, self.opts[1], "D", step)
        with self.autocast:
            rng = step_rng(self.seed, self.env.rank, step)
            g_loss, g_terms = self.loss_fn.generator_loss(
                self.d, batch["latent"], fake, batch["audio"], batch["codes"], rng
            )
        self._descend(g_loss, self.opts[0], "G", step)
        self.scheds[0].step(), self.scheds[1].step()
        return {k: float(v) for k, v in {**d_terms, **g_terms}.items()}

    def _descend(self, loss: torch.Tensor, optimiser, who: str, step: int) -> None:
        """One optimiser step on `loss`, after every rank agrees it is finite (`_check_finite`)."""
        _check_finite(loss, who, step, self.saved, self.ckpt, self.env)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()


@torch.inference_mode()
def _sample_spectrogram(loss_fn: ConchShellLoss, g: nn.Module, batch: dict, level: str) -> np.ndarray:
    """G's latent [1,64,T] for the batch's first picture, decoded over the whole clip → its log-mel picture."""
    fake = _unwrap(g)(batch["st"][:1], batch["label"][:1]).float()
    z_q, _ = loss_fn.codec.quantise(fake, level, straight_through=False)
    wave = loss_fn.codec.decode(z_q, level)
    return spectrogram_image(loss_fn.log_mel(wave)[0])


def _replica_hashes(g: nn.Module, env: Dist) -> list[str]:
    """G's state-dict hash on every rank (rank order); DDP keeps them equal."""
    mine = state_dict_sha256({k: v.cpu() for k, v in _unwrap(g).state_dict().items()})
    if env.world == 1:
        return [mine]
    hashes: list = [None] * env.world
    dist.all_gather_object(hashes, mine)
    return hashes
