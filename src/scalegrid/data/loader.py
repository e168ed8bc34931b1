"""Serving in-memory uint8 tensors as batches: no workers, no PIL, no per-sample Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from scalegrid.data.arrays import ImageArrays


class EpochShuffle:
    """A seeded permutation per epoch; Lightning calls ``set_epoch`` on a loader's ``sampler`` before each epoch.

    Deriving the order from (seed, epoch) rather than from a running generator keeps it the same after a resume.
    """

    def __init__(self, size: int, seed: int, shuffle: bool) -> None:
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.size)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=generator)


def resident_device(trainer: Any) -> torch.device | None:
    """The GPU a Trainer trains on, where in-memory splits are kept; None on a CPU (or with no Trainer yet)."""
    if trainer is None:
        return None
    device = trainer.strategy.root_device
    return device if device.type == "cuda" else None


def distributed_rank_and_size() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside torch.distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochBatches:
    """Batches of indices in :class:`EpochShuffle` order; usable as a DataLoader's ``batch_sampler``.

    A trailing batch of one image breaks BatchNorm in training mode; ``drop_singleton`` drops it.
    ``served`` counts the batches handed out this epoch, so a run resumed mid-epoch can continue where it stopped.

    Under DDP each rank takes every world-size-th index of the epoch's order, so each sample is seen once per epoch
    across the ranks. With ``equal_shards`` (training) the order is first padded, as DistributedSampler does, to a
    multiple of the world size, so every rank takes the same number of optimizer steps; evaluation shards are not
    padded, so no test image counts twice.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_singleton: bool = False,
        equal_shards: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.shuffle = EpochShuffle(size, seed, shuffle)
        self.size = size
        self.batch_size = batch_size
        self.drop_singleton = drop_singleton
        self.equal_shards = equal_shards
        self.served = 0
        self._resume_at: tuple[int, int] | None = None  # (epoch, batches already served) from a checkpoint
        self.index_device: torch.device | None = None  # where the epoch's order is moved, once, before batching

    def set_epoch(self, epoch: int) -> None:
        self.shuffle.set_epoch(epoch)

    def resume_at(self, epoch: int, served: int) -> None:
        """Make the next pass over ``epoch`` skip the batches an interrupted run already trained on."""
        self._resume_at = (epoch, served)

    def _shard(self, order: torch.Tensor) -> torch.Tensor:
        rank, world = distributed_rank_and_size()
        if world == 1:
            return order
        if self.equal_shards and len(order) % world:
            order = torch.cat([order, order[: world - len(order) % world]])
        return order[rank::world]

    def shard_size(self) -> int:
        rank, world = distributed_rank_and_size()
        if world == 1:
            return self.size
        if self.equal_shards:
            return -(-self.size // world)
        return len(range(rank, self.size, world))

    def __len__(self) -> int:
        full, rest = divmod(self.shard_size(), self.batch_size)
        return full + (1 if rest > 1 or (rest == 1 and not self.drop_singleton) else 0)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = self._shard(self.shuffle.order())
        if self.index_device is not None:
            order = order.to(self.index_device)  # one copy per epoch; each batch's indices are then a view
        start = 0
        if self._resume_at is not None and self._resume_at[0] == self.shuffle.epoch:
            start = self._resume_at[1]
        self._resume_at = None
        self.served = start
        for batch in range(start, len(self)):
            self.served = batch + 1
            yield order[batch * self.batch_size : (batch + 1) * self.batch_size]


class TensorBatchLoader:
    """Iterates (uint8 images, labels) batches of an :class:`ImageArrays`; augmentation happens after transfer.

    ``order`` takes :class:`EpochBatches`' options: ``shuffle``, ``seed``, ``drop_singleton``, ``equal_shards``.
    With a ``device`` (the GPU the model trains on) the whole split is moved there once, with the epoch's order,
    so a batch is a slice of device memory: no copy over the bus, and no wait for the GPU, at any step. (A copy
    from ordinary host memory makes the host wait for the device's queued work: every step, before this.)
    """

    def __init__(self, arrays: ImageArrays, batch_size: int, device: torch.device | None = None, **order: Any) -> None:
        self.arrays = arrays if device is None else arrays.to(device)
        # Lightning calls ``set_epoch`` on a loader's ``sampler`` before each epoch.
        self.sampler = EpochBatches(len(arrays), batch_size, **order)
        self.sampler.index_device = device
        self.batch_size = batch_size
        self.batch_sampler = None  # Lightning inspects DataLoader-like attributes; batching is done here

    def __len__(self) -> int:
        return len(self.sampler)

    # Lightning saves a loader's state_dict in every checkpoint and loads it back on resume (its ``_Stateful``
    # protocol); it does not prefetch from a loader with a length, so ``served`` is exactly the batches trained on.
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.shuffle.epoch, "served": self.sampler.served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume_at(int(state["epoch"]), int(state["served"]))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for index in self.sampler:
            yield self.arrays.images[index], self.arrays.labels[index]
