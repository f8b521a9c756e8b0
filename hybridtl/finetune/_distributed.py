"""Fine-tuning across processes and GPUs with PyTorch's DistributedDataParallel.

:class:`~hybridtl.finetune.FineTuneClassifier` trains data-parallel when it runs inside a
``torch.distributed`` process group: under ``torchrun --nproc_per_node=N`` (the group is
initialised here from torchrun's environment: nccl on CUDA, gloo on the CPU) or in any group the
caller initialised. What that means, rank by rank:

* every rank reads the same images and holds the same train/validation split (rank 0's seed);
* each epoch, ``DistributedSampler`` (with ``set_epoch``) gives each rank its share of the
  training images; the model is wrapped in ``DistributedDataParallel``, which averages gradients,
  so parameters stay identical on every rank;
* losses and accuracies are summed over ranks (``all_reduce``), validation is split over ranks
  too, and rank 0's early-stopping decision is broadcast, so ranks never disagree;
* only rank 0 writes files (the CLI's model, plots).

The own training loop is kept: :class:`DistributedTrainer` wraps :class:`~hybridtl.finetune.Trainer`
with what DDP needs, the wrapping, the sampler and the reductions below.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from ..callbacks import Callback
from ._steps import nan_pair
from ._trainer import Trainer

__all__ = ["AgreeOnStop", "Distributed", "DistributedTrainer", "current_process_group", "is_main_process"]


def _torchrun_env():
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")) and \
        int(os.environ["WORLD_SIZE"]) > 1


def current_process_group(device):
    """The process group this process trains in, or ``None`` for a single process.

    Under torchrun without an initialised group, initialises one: nccl for CUDA, gloo for the CPU.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        if not _torchrun_env():
            return None
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    if dist.get_world_size() < 2:
        return None
    return Distributed(device)


def is_main_process():
    """True outside a process group and on rank 0: the one process that writes files.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_main_process()  # a plain process, no torchrun
    True
    """
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class AgreeOnStop(Callback):
    """Callback, last in the list: every rank stops when rank 0 stops (they must never disagree)."""

    def __init__(self, group):
        self.group = group

    def on_epoch_end(self, state):
        state.stop = self.group.broadcast_flag(state.stop)


class Distributed:
    """The few collective operations the training loop needs, for the current process group."""

    def __init__(self, device):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        # collectives run on the device for nccl, on the CPU for gloo
        self.device = device if dist.get_backend() == "nccl" else torch.device("cpu")
        self._wrapped, self._signature = None, None

    def broadcast_int(self, value):
        """Rank 0's ``value`` on every rank (e.g. the seed that draws the validation split)."""
        tensor = torch.tensor([int(value)], dtype=torch.int64, device=self.device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def broadcast_flag(self, flag):
        return bool(self.broadcast_int(int(bool(flag))))

    def shard(self, n, epoch, seed):
        """This rank's training positions for ``epoch``: ``DistributedSampler`` with ``set_epoch``."""
        sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=self.world, rank=self.rank,
                                                      shuffle=True, seed=seed, drop_last=False)
        sampler.set_epoch(epoch)
        return np.fromiter(iter(sampler), dtype=np.int64)

    def split(self, n):
        """This rank's part of ``n`` fixed items (validation), without repeats: every rank-th one."""
        return np.arange(self.rank, n, self.world)

    def weighted_means(self, pairs, count):
        """Means over all ranks of per-rank means ``pairs``, each rank weighted by its ``count``."""
        values = [0.0 if count == 0 else float(v) * count for v in pairs] + [float(count)]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        total = tensor[-1].item()
        return tuple((tensor[:-1] / max(total, 1.0)).tolist())

    def sync_buffers(self, model):
        """Rank 0's buffers (BatchNorm running statistics) on every rank.

        DDP broadcasts them at the start of each forward pass, but the pass then updates each
        rank's copy from its own batch; after an epoch they are made equal again, so that every
        rank holds the same model (and early stopping keeps the same weights everywhere).
        """
        for buffer in model.buffers():
            if buffer.is_floating_point() or buffer.dtype == torch.int64:
                on = buffer.to(self.device)
                dist.broadcast(on, src=0)
                buffer.copy_(on)

    def wrapped(self, model):
        """``model`` in ``DistributedDataParallel``, re-wrapped whenever the set of trainable
        parameters changes (gradual unfreezing, two stages): DDP registers them when it is built."""
        signature = tuple(p.requires_grad for p in model.parameters())
        if signature != self._signature:
            self._wrapped = None  # the old reducer removes its hooks when it is freed
            if not any(signature):
                return model
            device_ids = [torch.cuda.current_device()] if self.device.type == "cuda" else None
            self._wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
            self._signature = signature
        return self._wrapped


class DistributedTrainer(Trainer):
    """The :class:`~hybridtl.finetune.Trainer` of one rank in a process group.

    Each epoch this rank trains on its ``DistributedSampler`` share through the model wrapped in
    ``DistributedDataParallel``, then takes rank 0's buffers; validation is split over the ranks;
    losses and accuracies are averaged over all of them; every rank stops when rank 0 stops.
    """

    def __init__(self, run, callbacks, device, batch_size, group, seed, **options):
        super().__init__(run, list(callbacks) + [AgreeOnStop(group)], device, batch_size, **options)
        self.group, self.seed = group, seed
        run.generator.manual_seed(seed + group.rank)  # each rank its own augmentations

    def train_epoch(self, images, targets, batch_size, model=None):
        mine = self.group.shard(len(targets), self.state.epoch, self.seed)
        net = self.group.wrapped(self.state.model)
        result = super().train_epoch(images.subset(mine), targets[mine], batch_size, model=net)
        self.group.sync_buffers(self.state.model)
        return self.group.weighted_means(result, len(mine))

    def validate(self, images, targets):
        if not len(targets):
            return nan_pair()
        mine = self.group.split(len(targets))
        if not len(mine):
            return self.group.weighted_means(nan_pair(), 0)
        return self.group.weighted_means(super().validate(images.subset(mine), targets[mine]), len(mine))
