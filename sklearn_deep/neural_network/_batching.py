"""Mini-batches from in-memory tensors, and a seeded fork of torch's RNG, for the training
loops of the neural estimators."""

from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["TensorBatchIterator"]


class TensorBatchIterator:
    """Mini-batches sliced from in-memory tensors (a fast stand-in for ``DataLoader``).

    skorch calls it with the dataset of a split (a ``skorch.dataset.Dataset`` holding tensors,
    or a ``torch.utils.data.Subset`` of one) and ``batch_size``. Each pass over it draws a new
    permutation from the torch RNG when ``shuffle``; a trailing batch of one sample is merged
    into the previous batch (batch normalisation cannot train on one value per channel).

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Subset
        Holds ``X`` (tensor of shape (n_samples, ...)) and ``y`` (tensor of shape (n_samples,)).
    batch_size : int
        Samples per batch.
    shuffle : bool, default=False
        Draw a fresh permutation for every pass.
    transform : callable or None, default=None
        Applied to each X batch (after moving it to ``device``): data augmentation.
    device : str or None, default=None
        Move the X batch there before ``transform``.
    """

    def __init__(self, dataset, batch_size, shuffle=False, transform=None, device=None):
        if isinstance(dataset, torch.utils.data.Subset):
            idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
            self.X, self.y = dataset.dataset.X[idx], dataset.dataset.y[idx]
        else:
            self.X, self.y = dataset.X, dataset.y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.device = device
        n = len(self.X)
        bounds = list(range(0, n, batch_size)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        self._bounds = list(zip(bounds[:-1], bounds[1:]))

    def __len__(self):
        return len(self._bounds)

    def __iter__(self):
        order = torch.randperm(len(self.X)) if self.shuffle else None
        for start, stop in self._bounds:
            if order is None:
                xb, yb = self.X[start:stop], self.y[start:stop]
            else:
                idx = order[start:stop]
                xb, yb = self.X[idx], self.y[idx]
            if self.transform is not None:
                if self.device is not None:
                    xb = xb.to(self.device)
                xb = self.transform(xb)
            yield xb, yb


@contextmanager
def _forked_torch_rng(seed, device):
    """Seed torch's RNG (CPU, and the CUDA device in use) inside a fork that restores it after."""
    device = torch.device(device if device is not None else "cpu")
    cuda = device.type == "cuda"
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if (cuda)
        else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        yield
