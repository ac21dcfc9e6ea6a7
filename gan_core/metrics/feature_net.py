"""Feature extractors of the image metrics, none of which downloads anything.

- `SmallCNN`: a classifier trained on the real labelled images (digits, MNIST)
  in a few seconds on a CPU, deterministically from a seed, and cached on disk
  under `$GANSWEEP_CACHE` (default ~/.cache/gansweep) by a hash of the data,
  and in this process. Its penultimate layer is the feature space of the
  Fréchet distance and of the k-NN metrics; its predictions give class coverage.
- `RandomConvFeatures`: a conv net with fixed random weights for unlabelled
  images. Random conv features are a known download-free embedding for
  FID-like comparisons outside ImageNet (Naeem et al. 2020, sec. 5, use a
  randomly initialised VGG16 the same way); the weights depend on a fixed seed
  only, so numbers compare across runs and machines.

Both are built inside `torch.random.fork_rng`, so building an evaluator never
moves the caller's global random stream (a trial's reproducibility).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.metrics.threads import one_thread

ARCH_VERSION = "smallcnn-v1"  # change when SmallCNN or its training changes: new cache key
FEATURE_DIM = 128
WIDTHS = (16, 32, 64)
TRAIN_EPOCHS = 8
TRAIN_STEPS_MIN = 300  # small data sets (digits: 1797 images) get more epochs
BATCH = 64
LR = 2e-3
VAL_SHARE = 0.1
_MEMORY: dict[str, SmallCNN] = {}


def _down_blocks(size: int) -> int:
    """Stride-2 convs that take the side to 4..7 pixels (8 -> 4, 28 -> 7, 64 -> 4)."""
    return max(1, int(math.floor(math.log2(max(size, 4) / 4))))


def _conv_stack(channels: int, size: int) -> tuple[nn.Sequential, int]:
    """Stride-2 3x3 convs (widths WIDTHS, last one repeated), then 4x4 average pooling."""
    layers, ch = [], channels
    for i in range(_down_blocks(size)):
        out = WIDTHS[min(i, len(WIDTHS) - 1)]
        layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        ch = out
    layers.append(nn.AdaptiveAvgPool2d(4))
    return nn.Sequential(*layers), ch * 16


class SmallCNN(nn.Module):
    """Strided convs, 4x4 pooling, a 128-unit penultimate layer, then class logits."""

    def __init__(self, channels: int, size: int, n_classes: int) -> None:
        super().__init__()
        self.body, flat = _conv_stack(channels, size)
        self.penultimate = nn.Sequential(nn.Flatten(), nn.Linear(flat, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.penultimate(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class RandomConvFeatures(nn.Module):
    """Fixed random conv net: mean response per channel of each block, plus a 2x2 layout of the last."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        widths = (16, 32, 32)
        self.blocks = nn.ModuleList()
        ch = channels
        with torch.random.fork_rng(devices=[]):  # nn.Conv2d's default init draws from it
            for out in widths:
                self.blocks.append(nn.Conv2d(ch, out, 3, stride=2, padding=1))
                ch = out
        g = torch.Generator().manual_seed(seed)
        for conv in self.blocks:  # He init from our own generator: same weights everywhere
            fan_in = conv.in_channels * 9
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * math.sqrt(2 / fan_in)
            conv.bias.data.zero_()
        self.requires_grad_(False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for conv in self.blocks:
            x = F.leaky_relu(conv(x), 0.2)
            pooled.append(x.mean(dim=(2, 3)))
        pooled.append(F.adaptive_avg_pool2d(x, 2).flatten(1))  # keeps coarse spatial layout
        return torch.cat(pooled, dim=1)


@torch.no_grad()
def batched(fn, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """fn over x in chunks (bounded memory), concatenated."""
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


# --- training and caching ----------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("GANSWEEP_CACHE") or Path.home() / ".cache" / "gansweep")


def data_key(x: torch.Tensor, labels: torch.Tensor, seed: int) -> str:
    """Hash of the images, labels, seed and recipe: the classifier's cache key."""
    h = hashlib.sha256()
    recipe = f"{ARCH_VERSION}|{tuple(x.shape)}|{seed}|{TRAIN_EPOCHS}|{TRAIN_STEPS_MIN}|{BATCH}|{LR}"
    h.update(recipe.encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def train_classifier(x: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> tuple[SmallCNN, dict]:
    """Train SmallCNN on (x, labels) with Adam; hold out VAL_SHARE to report its accuracy."""
    n_classes = int(labels.max()) + 1
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(seed)
        order = torch.randperm(len(x))
        n_val = max(1, int(len(x) * VAL_SHARE))
        val, train = order[:n_val], order[n_val:]
        model = SmallCNN(x.shape[1], x.shape[-1], n_classes)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        epochs = max(TRAIN_EPOCHS, math.ceil(TRAIN_STEPS_MIN * BATCH / len(train)))
        for _ in range(epochs):
            for idx in train[torch.randperm(len(train))].split(BATCH):
                loss = F.cross_entropy(model(x[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    predicted = batched(lambda b: model(b).argmax(dim=1), x[val])
    info = {
        "val_accuracy": float((predicted == labels[val]).float().mean()),
        "train_seconds": time.perf_counter() - start,
        "n_classes": n_classes,
        "epochs": epochs,
    }
    return model, info


def load_or_train_classifier(x: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> SmallCNN:
    """The classifier of this data: from this process, else from disk, else trained and saved."""
    key = data_key(x, labels, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"classifier-{key}.pt"
    model = _load(path, x, int(labels.max()) + 1)
    if model is None:
        model, info = train_classifier(x, labels, seed)
        _save(path, model, info)
    model.requires_grad_(False)
    _MEMORY[key] = model
    return model


def _load(path: Path, x: torch.Tensor, n_classes: int) -> SmallCNN | None:
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):
            model = SmallCNN(x.shape[1], x.shape[-1], n_classes)
        model.load_state_dict(saved["state_dict"])
    except Exception:  # a cache is best effort: an unreadable file (partial write, older
        return None  # format, other torch version) is retrained and overwritten
    return model.eval()


def _save(path: Path, model: SmallCNN, info: dict) -> None:
    """Write atomically (temp file + rename): parallel trials may build the same classifier."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state_dict": model.state_dict(), "info": info}, tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache costs a retrain next time, never the run


def classifier_info(x: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> dict | None:
    """The saved training report (held-out accuracy, seconds) of a cached classifier."""
    path = cache_dir() / f"classifier-{data_key(x, labels, seed)}.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True).get("info")
