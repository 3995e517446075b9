"""Training of the ConchShell GAN on the HDF5 caches (never TCNN, I3D or the Jukebox encoder).

One step: G(st, label) → fake latent [B,64,T]; D's hinge step on (real latent, fake.detach()); G's step
on adversarial + FM + wave + mel (`conchshell.losses`). AdamW betas (beta1, beta2); StepLR ×gamma_g /
×gamma_d every `decay_every` steps. bf16 autocast for G and D when on a GPU.

Distributed: under `torchrun` (WORLD_SIZE > 1) G and D are wrapped in DDP (NCCL on GPUs, gloo on CPU),
each rank reads its own DistributedSampler shard, rank 0 alone logs (DVCLive) and writes checkpoints.

Resume: `checkpoints/gan/last.pt` (written atomically every `checkpoint_every` steps) holds G, D, both
optimisers and schedulers, the step, the RNG states and a fingerprint of everything that shapes the
run except its length; a run started again with the same fingerprint continues from it. Data order
and loss windows are functions of (seed, epoch, step, rank), so a resumed run sees the same batches.

models/gan.pt: `level`, `generator` (state dict), `generator_config`, `categories`, `config` (the gan
section), `step`, plus `vqvae_sha256` and `replica_sha256` (G's hash on every rank, all equal).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from conchshell.config import Config, to_dict
from conchshell.errors import ConchError
from conchshell.io import load_torch, save_torch, state_dict_sha256
from conchshell.losses import ConchShellLoss, LossWeights, is_finite
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import Generator, build_generator, generator_config

GAN_KEYS = ("level", "generator", "generator_config", "categories", "config", "step")
#: gan keys that do not change what a step computes (a resumed run may change them).
RUN_LENGTH_KEYS = ("steps", "checkpoint_every", "log_every", "sample_every", "num_workers")


# -- distributed setup ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the torchrun job when WORLD_SIZE > 1 (NCCL on GPUs, gloo on CPU); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Dist(rank=rank, world=world, device=device)


def close_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _check_finite(loss: torch.Tensor, who: str, step: int, saved: int, ckpt: Path, env: Dist) -> None:
    """Stop (every rank together: one all-reduce) when a loss is NaN or inf, before any update or save."""
    ok = torch.tensor([float(is_finite(loss))], device=env.device)
    if env.world > 1:
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    if ok.item() > 0:
        return
    raise ConchError(
        f"gan: non-finite {who} loss ({float(loss.detach()):.4g} on rank {env.rank}) at step {step + 1}; stopped before "
        f"updating or saving ({ckpt} holds step {saved}); lower gan.lr_g / gan.lr_d or check the feature caches"
    )


# -- models, losses, optimisers ------------------------------------------------------------------------
def build_models(
    cfg: Config, frames: int, num_classes: int, in_channels: int = 2048
) -> tuple[Generator, Discriminator, dict]:
    """(G, D, G's config dict) for `cfg.level` and `cfg.gan.size`, seeded by `cfg.seed`; G reads `in_channels`-wide
    S-T features (the I3D's: inception 1024, r50 2048)."""
    torch.manual_seed(cfg.seed)
    g_config = generator_config(cfg.level, frames, cfg.gan.size, cfg.gan.width, in_channels, num_classes)
    return build_generator(g_config), Discriminator(**discriminator_config(cfg.gan.size, cfg.gan.width)), g_config


def loss_weights(gan) -> LossWeights:
    """The λ's of `gan.profile` (released-code uses its own adversarial weight)."""
    adv = gan.lambda_adv if gan.profile == "paper" else gan.lambda_adv_released
    return LossWeights(adv, gan.lambda_fm, gan.lambda_wave, gan.lambda_mel, gan.lambda_latent, gan.lambda_code)


def make_optimisers(g: nn.Module, d: nn.Module, gan) -> tuple:
    """AdamW for G and D (betas (beta1, beta2)) and their StepLR schedulers (×gamma every decay_every)."""
    betas = (gan.beta1, gan.beta2)
    opt_g = torch.optim.AdamW(g.parameters(), lr=gan.lr_g, betas=betas)
    opt_d = torch.optim.AdamW(d.parameters(), lr=gan.lr_d, betas=betas)
    sched_g = torch.optim.lr_scheduler.StepLR(opt_g, gan.decay_every, gan.gamma_g)
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


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The RNG of one step's loss window: a function of (seed, rank, step), so resuming repeats it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank * 7_919 + step)


# -- checkpoints ---------------------------------------------------------------------------------------
def fingerprint(cfg: Config, vqvae_sha256: str, num_pairs: int, st_channels: int = 2048) -> str:
    """Hash of what shapes the run (seed, level, gan params but its length, VQ-VAE, data size, S-T width)."""
    gan = {k: v for k, v in to_dict(cfg.gan).items() if k not in RUN_LENGTH_KEYS}
    blob = json.dumps([cfg.seed, cfg.level, gan, vqvae_sha256, num_pairs, st_channels], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


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


def save_checkpoint(path: Path, step: int, print_: str, g, d, opts, scheds) -> None:
    """Everything a resumed run needs, written atomically to `path`."""
    save_torch(
        {
            "step": step,
            "fingerprint": print_,
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


def try_resume(path: Path, print_: str, g, d, opts, scheds) -> int:
    """Load `path` into the models/optimisers when its fingerprint matches → the step to start at (0 if none)."""
    if not path.is_file():
        return 0
    state = load_torch(path, "GAN training checkpoint")
    if state.get("fingerprint") != print_:
        return 0  # made by another configuration: start afresh (it is overwritten at the first save)
    _unwrap(g).load_state_dict(state["generator"])
    _unwrap(d).load_state_dict(state["discriminator"])
    opts[0].load_state_dict(state["opt_g"])
    opts[1].load_state_dict(state["opt_d"])
    scheds[0].load_state_dict(state["sched_g"])
    scheds[1].load_state_dict(state["sched_d"])
    set_rng_states(state["rng"])
    return int(state["step"])


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


def load_generator(path: str | os.PathLike) -> tuple[Generator, dict]:
    """models/gan.pt → (G in eval mode, meta: every key but `generator`)."""
    ckpt = load_torch(path, "GAN checkpoint")
    missing = [k for k in GAN_KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(GAN_KEYS)
    if missing:
        raise ConchError(f"{path}: not a ConchShell GAN checkpoint (no `{missing[0]}`); re-run train_gan")
    try:
        g = build_generator(dict(ckpt["generator_config"]))
        g.load_state_dict(ckpt["generator"])
    except (TypeError, RuntimeError, ValueError) as err:
        raise ConchError(f"{path}: generator weights do not match its generator_config ({str(err).splitlines()[0]})") from err
    g.eval()
    return g, {k: v for k, v in ckpt.items() if k != "generator"}


# -- logging -------------------------------------------------------------------------------------------
def spectrogram_image(log_mel: torch.Tensor) -> np.ndarray:
    """log-mel [n_mels, frames] → uint8 greyscale picture [n_mels, frames] (low frequencies at the bottom)."""
    x = log_mel.float()
    x = (x - x.min()) / (x.max() - x.min() + 1e-8)
    return (x.flip(0) * 255).to(torch.uint8).cpu().numpy()


class Logger:
    """DVCLive on rank 0 (no-op elsewhere): scalars per `log_every`, a spectrogram per `sample_every`."""

    def __init__(self, directory: str | os.PathLike, enabled: bool, resume: bool):
        self.live = None
        if enabled:
            from dvclive import Live

            self.live = Live(str(directory), resume=resume, save_dvc_exp=False, dvcyaml=False)

    def scalars(self, step: int, values: dict[str, float]) -> None:
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
) -> tuple[dict, TrainResult]:
    """Train G and D for `cfg.gan.steps` steps (resuming from `checkpoint_dir/last.pt` when it matches).

    `dataset` yields PairDataset items at `cfg.level`; `codec` is the frozen JukeboxCodec. Returns the
    models/gan.pt dict (to be written by rank 0) and a summary.
    """
    gan = cfg.gan
    level = cfg.level_index
    sample = dataset[0]
    frames = int(sample["latent"].shape[-1])
    g, d, g_config = build_models(cfg, frames, len(categories), int(sample["st"].shape[0]))
    g, d, codec = g.to(env.device), d.to(env.device), codec.to(env.device)
    opt_g, opt_d, sched_g, sched_d = make_optimisers(g, d, gan)
    opts, scheds = (opt_g, opt_d), (sched_g, sched_d)
    loss_fn = ConchShellLoss(codec, level, loss_weights(gan), gan.profile, gan.loss_window_seconds).to(env.device)

    ckpt_path = Path(checkpoint_dir) / "last.pt"
    print_ = fingerprint(cfg, vqvae_sha256, len(dataset), g_config["in_channels"])
    start = try_resume(ckpt_path, print_, g, d, opts, scheds)
    if env.world > 1:
        ids = [None] * env.world
        dist.all_gather_object(ids, start)
        if len(set(ids)) != 1:
            raise ConchError(f"{ckpt_path}: ranks resumed from different steps {ids}")
        g = DDP(g, device_ids=[env.device.index] if env.device.type == "cuda" else None)
        d = DDP(d, device_ids=[env.device.index] if env.device.type == "cuda" else None)
    g.train(), d.train()
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" else nullcontext()
    )
    logger = Logger(live_dir, env.main, resume=start > 0)
    data = batches(dataset, gan.batch_size, cfg.seed, start, env, gan.num_workers)
    last: dict[str, float] = {}
    saved = start
    bar = tqdm(range(start, gan.steps), desc=f"train_gan ({cfg.level})", disable=not env.main,
               initial=start, total=gan.steps)
    try:
        for step in bar:
            batch = {k: (v.to(env.device) if torch.is_tensor(v) else v) for k, v in next(data).items()}
            with autocast:
                fake = g(batch["st"], batch["label"]).float()
                d_loss, d_terms = loss_fn.discriminator_loss(d, batch["latent"], fake)
            _check_finite(d_loss, "D", step, saved, ckpt_path, env)
            opts[1].zero_grad(set_to_none=True)
            d_loss.backward()
            opts[1].step()
            with autocast:
                g_loss, g_terms = loss_fn.generator_loss(
                    d, batch["latent"], fake, batch["audio"], batch["codes"],
                    step_generator(cfg.seed, env.rank, step),
                )
            _check_finite(g_loss, "G", step, saved, ckpt_path, env)
            opts[0].zero_grad(set_to_none=True)
            g_loss.backward()
            opts[0].step()
            scheds[0].step(), scheds[1].step()
            done = step + 1
            last = {k: float(v) for k, v in {**d_terms, **g_terms}.items()}
            if env.main and (done % gan.log_every == 0 or done == gan.steps):
                lrs = {"lr_g": scheds[0].get_last_lr()[0], "lr_d": scheds[1].get_last_lr()[0]}
                logger.scalars(done, {**last, **lrs})
                bar.set_postfix(d=f"{last['d_hinge']:.3f}", g=f"{last['g_total']:.3f}")
            if env.main and (done % gan.sample_every == 0 or done == gan.steps):
                logger.image("spectrogram.png", _sample_spectrogram(loss_fn, fake[:1].detach(), level))
            if env.main and (done % gan.checkpoint_every == 0 or done == gan.steps):
                save_checkpoint(ckpt_path, done, print_, g, d, opts, scheds)
                saved = done
    finally:
        logger.close()
    final = max(start, gan.steps)
    replicas = _replica_hashes(g, env)
    meta = {"vqvae_sha256": vqvae_sha256, "replica_sha256": replicas}
    return gan_checkpoint(cfg, g, g_config, categories, final, **meta), TrainResult(final, start, last)


@torch.inference_mode()
def _sample_spectrogram(loss_fn: ConchShellLoss, fake: torch.Tensor, level: int) -> np.ndarray:
    """Decode one fake latent [1,64,T] over the whole clip → its log-mel picture."""
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
