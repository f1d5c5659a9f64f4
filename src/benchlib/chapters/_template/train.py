"""Training of the template chapter's model: minibatch SGD on the binary cross-entropy, the
training half reshuffled every epoch; resumable through `benchlib.torchutil.TrainingCheckpoint`."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from benchlib.torchutil import TrainingCheckpoint, config_hash, restore_training_state, training_state


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 0.5
    batch: int = 16


def checkpoint_key(seed: int, cfg: TrainConfig, data_signature, device) -> str:
    """What a saved training must share to be resumed: seed, every training setting, the data
    (`data_signature`: its folder and `torchutil.files_signature`) and the device type."""
    return config_hash("threshold", seed, asdict(cfg), data_signature, torch.device(device).type, torch.__version__)


def fit(model, data, cfg: TrainConfig, *, seed: int, device, checkpoint: TrainingCheckpoint | None = None,
        on_epoch=None) -> pd.DataFrame:
    """Train `model` on `data` = (x, labels) of the training half for `cfg.epochs` epochs; the order
    of each epoch is drawn from a generator seeded with `seed`. Returns the history (one row per
    epoch: epoch, mean training loss).

    `checkpoint`: the state (model, optimiser, history, every random state) is saved after the
    epochs it says and a matching saved state is resumed, so an interrupted training ends with the
    same weights as an uninterrupted one. `on_epoch(epoch)` is called after each epoch trained in
    this session."""
    x, y = (torch.tensor(np.asarray(a), dtype=torch.float32, device=device) for a in data)
    model.to(device)
    rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    rows, epoch = [], 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        restore_training_state(saved, rng, model=model, optimizer=opt)
        rows, epoch = list(saved["rows"]), saved["epoch"]
    while epoch < cfg.epochs:
        model.train()
        order = torch.as_tensor(rng.permutation(len(y)), device=device)
        losses = []
        for i in range(0, len(order), cfg.batch):
            idx = order[i:i + cfg.batch]
            loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        epoch += 1
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses))})
        if checkpoint is not None and checkpoint.due(epoch, last=epoch == cfg.epochs):
            checkpoint.save({**training_state(rng, model=model, optimizer=opt), "rows": rows}, epoch,
                            finished=epoch == cfg.epochs)
        if on_epoch is not None:
            on_epoch(epoch)
    model.eval()
    return pd.DataFrame(rows)
