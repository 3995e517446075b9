"""torchrun ranks: which process does which share, on which device, over which backend.

Used by `conchshell generate --from`, the encode stages and GAN training. Under `torchrun` (WORLD_SIZE > 1)
each process joins one group; alone, it is rank 0 of 1 and nothing is initialised.

Devices: rank with LOCAL_RANK l takes cuda:l when l < torch.cuda.device_count() (NCCL); when a node runs
more ranks than it has GPUs, the ranks share them (cuda:l mod count) over gloo, since NCCL refuses two
ranks on one GPU, and rank 0 says so once. Without CUDA (or with `cpu=True`) every rank runs on the CPU
over gloo.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> range:
        """This rank's items of 0..n-1: every world-th from its rank (disjoint, together all of them)."""
        return range(self.rank, n, self.world)


def choose_device(local_rank: int, local_world: int, cuda_count: int, cpu: bool = False) -> tuple[str, str, str | None]:
    """(device, backend, note) for the rank `local_rank` of `local_world` on a node with `cuda_count` GPUs.

    note: one line when ranks must share GPUs (None otherwise)."""
    if cpu or cuda_count == 0:
        return "cpu", "gloo", None
    if local_world <= cuda_count:
        return f"cuda:{local_rank}", "nccl", None
    note = (
        f"note: {local_world} ranks on this node share {cuda_count} GPU(s) (rank l runs on cuda:l mod "
        f"{cuda_count}) over gloo, as NCCL needs a GPU per rank; start one rank per GPU for full speed"
    )
    return f"cuda:{local_rank % cuda_count}", "gloo", note


def init_distributed(cpu: bool = False) -> Dist:
    """Join the torchrun job when WORLD_SIZE > 1 (see the module docstring); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    name, backend, note = choose_device(local, max(local_world, local + 1), count, cpu)
    device = torch.device(name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if note and rank == 0:
        print(note, file=sys.stderr)
    return Dist(rank=rank, world=world, device=device)


def barrier(env: Dist) -> None:
    """Wait for every rank (nothing to wait for alone)."""
    if env.world > 1:
        dist.barrier()


def all_ok(ok: bool, env: Dist) -> bool:
    """True when `ok` holds on every rank (one all-reduce on the CPU; gloo and NCCL groups both take it)."""
    if env.world == 1:
        return ok
    flag = torch.tensor([int(ok)], device=env.device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def close_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
