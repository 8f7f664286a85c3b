"""Distributed data parallel helpers for running the trainer under ``torchrun`` (gloo on CPU, nccl on CUDA).

``torchrun --nproc-per-node 2 -m headstart.cli fit ...`` runs the whole pipeline once per rank. Every rank
builds the same splits and model (same seed); the trainer wraps the model in DDP, gives each rank a shard of
every global batch (exactly what ``DistributedSampler`` over one shared permutation yields), all-reduces the
validation loss and accuracy so early stopping agrees on every rank, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "all_reduce_sum",
    "barrier",
    "ddp_backend",
    "dist_info",
    "init_from_env",
    "is_main_process",
    "shard",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env() -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR/PORT).

    A no-op (rank 0 of 1) outside torchrun or when already initialised. nccl when each local rank has a GPU
    of its own; gloo otherwise (on the CPU, or with more ranks than GPUs, which nccl refuses: the ranks then
    share the current GPU). ``HEADSTART_DDP_BACKEND=gloo`` forces gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend=ddp_backend())
    return dist_info()


def ddp_backend() -> str:
    """``"nccl"`` when CUDA has a device for every local rank (and sets this rank's), else ``"gloo"``."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    forced_gloo = os.environ.get("HEADSTART_DDP_BACKEND", "") == "gloo"
    if forced_gloo or not torch.cuda.is_available() or torch.cuda.device_count() < local_world:
        return "gloo"
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return "nccl"


def dist_info() -> DistInfo:
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def is_main_process() -> bool:
    return dist_info().is_main


def barrier() -> None:
    if dist_info().enabled:
        dist.barrier()


def shard(indices: np.ndarray, info: DistInfo) -> np.ndarray:
    """This rank's part of one global batch: ``indices[rank::world]`` (DistributedSampler's interleaving)."""
    if not info.enabled:
        return indices
    return indices[info.rank :: info.world_size]


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum ``values`` over all ranks (float64 on the CPU for gloo; on the current CUDA device for nccl)."""
    if not info.enabled:
        return values
    device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]
