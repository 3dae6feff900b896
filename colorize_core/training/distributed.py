"""Data-parallel training under ``torchrun``: torch.distributed with DistributedDataParallel.

``torchrun --nproc_per_node N --no-python colorize-train ...`` starts N processes and gives each
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``session`` joins them into one process group (NCCL
on CUDA, gloo on CPU). Training then works on exactly the batches of a single-process run:

- every rank draws the same global batch from the same seeded generator (same order, same
  augmentation) and keeps its own contiguous slice of it (``shard``), so the global batch size
  and the data order equal those of one process;
- DDP averages the gradients; each rank's loss is scaled by its share of the global batch
  (``share``), so a batch that does not split evenly still weighs every image equally;
- BatchNorm is synchronised (``SyncBatchNorm``) on CUDA; PyTorch's SyncBatchNorm runs on GPUs
  only, so on CPU each rank normalises with its own slice's statistics, and DDP broadcasts rank
  0's running statistics at every step;
- only rank 0 writes checkpoints, history, metrics, samples and Weights & Biases; every rank
  resumes from rank 0's ``last.pt``.

A failure on one rank ends all of them: torchrun stops the others as soon as one process
exits with an error, and every collective times out after ``timeout()`` (never a hang);
``lost_rank`` turns that timeout into one line naming the rank that stopped answering.
Across machines the command is the same with torchrun's rendezvous flags (README).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

# A collective waiting longer than this fails. Long enough for a slow rank's epoch-end work
# (rank 0 writes the checkpoints while the others wait); the env var shortens it for tests.
TIMEOUT_SECONDS = 60
TIMEOUT_ENV = "COLORIZE_DDP_TIMEOUT"


@dataclass(frozen=True)
class World:
    """This process's place among the ``size`` processes of one training run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_environment() -> World:
    """The world torchrun describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; one
    process when they are absent."""
    if "WORLD_SIZE" not in os.environ:
        return SINGLE
    return World(
        int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    )


def current() -> World:
    """The world of the process group this process has joined (``session``), else one process."""
    if dist.is_available() and dist.is_initialized():
        return from_environment()
    return SINGLE


def timeout() -> datetime.timedelta:
    """How long a collective waits for the other ranks: ``$COLORIZE_DDP_TIMEOUT`` seconds, else
    ``TIMEOUT_SECONDS``."""
    value = os.environ.get(TIMEOUT_ENV) or TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_ENV}={value!r} must be a positive number of seconds")
    return datetime.timedelta(seconds=seconds)


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[World]:
    """Join the process group torchrun set up for this process (if any) and leave it at the end.

    NCCL on CUDA (each process on the GPU ``LOCAL_RANK``), gloo on CPU."""
    world = from_environment()
    if not world.distributed:
        yield world
        return
    if device.type == "cuda":
        torch.cuda.set_device(world.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timeout())
    try:
        yield world
    finally:
        dist.destroy_process_group()


def device_for(device: torch.device, world: World) -> torch.device:
    """This rank's device: its own GPU on CUDA (``LOCAL_RANK``), else ``device``."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's contiguous slice of a global batch (sizes differ by at most one image)."""
    if not world.distributed:
        return batch
    return batch.tensor_split(world.size)[world.rank]


def share(local: int, total: int, world: World) -> float:
    """The factor that turns a rank's mean loss over ``local`` images into its part of the
    global mean over ``total``, once DDP has averaged the gradients over ``world.size`` ranks."""
    return local * world.size / total


def wrap(module: nn.Module, device: torch.device, world: World) -> nn.Module:
    """``module`` for training on this rank: DistributedDataParallel (with SyncBatchNorm on
    CUDA) when there are several ranks; ``module`` itself otherwise. The returned module shares
    its parameters with ``module``, so ``module`` keeps a state dict without DDP's prefixes."""
    if not world.distributed:
        return module
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def sum_over_ranks(values: list[float], world: World) -> list[float]:
    """Element-wise sums of ``values`` over all ranks (float64)."""
    if not world.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier(world: World) -> None:
    """Wait for every rank (within ``timeout()``)."""
    if world.distributed:
        dist.barrier()


# How gloo and NCCL word a collective that a peer left unanswered. gloo raises a plain
# RuntimeError ("[.../gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 5000ms for recv
# operation to complete", or "Connection closed by peer" when the peer died); NCCL's watchdog a
# DistBackendError ("... ran for 60000 milliseconds before timing out").
_TIMED_OUT = re.compile(r"timed out|timing out|timeout", re.I)
_CLOSED = re.compile(r"connection (closed|reset)|closed by peer|broken pipe", re.I)


def is_lost_rank(error: BaseException) -> bool:
    """True when ``error`` is a collective that failed because another rank stopped answering."""
    text = str(error)
    return isinstance(error, RuntimeError) and bool(_TIMED_OUT.search(text) or _CLOSED.search(text))


def lost_rank(error: BaseException, world: World) -> str:
    """One line for a collective that failed because another rank stopped answering, e.g. ``rank
    1 stopped answering (no reply within 60 s)``: the rank the error text names, else the only
    other rank of two, else "another rank"."""
    text = str(error)
    others = {int(r) for r in re.findall(r"\brank\s*[:=]?\s*(\d+)", text, re.I)} - {world.rank}
    if len(others) == 1:
        who = f"rank {others.pop()}"
    elif world.size == 2:
        who = f"rank {1 - world.rank}"
    else:
        who = "another rank"
    if _TIMED_OUT.search(text):
        return f"{who} stopped answering (no reply within {timeout().total_seconds():g} s)"
    return f"{who} stopped answering (its connection closed)"
