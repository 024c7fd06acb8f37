"""The router network in torch (training only; inference is numpy in infer.py).

RouterNet: a bag of sparse text features (EmbeddingBag, sum / sqrt(n)) concatenated with the
dense features, one ReLU layer shared by four heads:
- category (8-way softmax): which policy row applies;
- difficulty (sigmoid): where in the category's CoT range the request sits;
- temperature (sigmoid * 1.5): learned only from rows that carry a temperature (users'
  own data or accepted feedback); unused until such rows were seen;
- model (softmax over profile names): learned only from rows that carry a model override.
The settings heads exist because users asked to retrain on their own choices; the shipped
weights train only the first two (the policy table fixes the rest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tsr_lsp.config import CATEGORIES
from tsr_lsp.router.features import DENSE_SIZE
from tsr_lsp.router.infer import ARRAY_NAMES, RouterWeights


class RouterNet(nn.Module):
    def __init__(self, vocab_size: int, bag_dim: int = 32, hidden: int = 64, n_models: int = 1):
        super().__init__()
        self.emb = nn.EmbeddingBag(max(1, vocab_size), bag_dim, mode="sum")
        self.fc = nn.Linear(bag_dim + DENSE_SIZE, hidden)
        self.cat = nn.Linear(hidden, len(CATEGORIES))
        self.diff = nn.Linear(hidden, 1)
        self.temp = nn.Linear(hidden, 1)
        self.model = nn.Linear(hidden, max(1, n_models))
        self.drop = nn.Dropout(0.1)
        nn.init.normal_(self.emb.weight, std=0.1)

    def forward(
        self,
        ids: torch.Tensor,
        offsets: torch.Tensor,
        scale: torch.Tensor,
        dense: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        bag = self.emb(ids, offsets, per_sample_weights=scale)
        h = torch.relu(self.fc(torch.cat([bag, dense], dim=1)))
        h = self.drop(h)
        return (
            self.cat(h),
            self.diff(h).squeeze(1),
            self.temp(h).squeeze(1),
            self.model(h),
        )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32, copy=True)


def _member_arrays(net: RouterNet, vocab_size: int) -> dict[str, np.ndarray]:
    return {
        "emb": _np(net.emb.weight)[: max(1, vocab_size)],
        "w1": _np(net.fc.weight).T.copy(),
        "b1": _np(net.fc.bias),
        "wc": _np(net.cat.weight).T.copy(),
        "bc": _np(net.cat.bias),
        "wd": _np(net.diff.weight).T.copy(),
        "bd": _np(net.diff.bias),
        "wt": _np(net.temp.weight).T.copy(),
        "bt": _np(net.temp.bias),
        "wm": _np(net.model.weight).T.copy(),
        "bm": _np(net.model.bias),
    }


def to_weights(nets: list[RouterNet], vocab: list[str], meta: dict[str, Any]) -> RouterWeights:
    """Stack the ensemble members' arrays along a leading axis (what infer.forward expects)."""
    per = [_member_arrays(net, len(vocab)) for net in nets]
    arrays = {name: np.stack([m[name] for m in per]) for name in ARRAY_NAMES}
    first = nets[0]
    meta = {
        **meta,
        "members": len(nets),
        "bag_dim": int(first.emb.weight.shape[1]),
        "hidden": int(first.fc.out_features),
    }
    return RouterWeights(list(vocab), arrays, meta)


def from_weights(
    weights: RouterWeights, vocab_size: int | None = None, models: list[str] | None = None
) -> list[RouterNet]:
    """Trainable copies of saved weights, one per ensemble member; new vocabulary rows and
    model classes start at zero so fine-tuning begins exactly where the base model stands."""
    a = weights.arrays
    old_models = weights.models
    models = models if models is not None else old_models
    nets = []
    for k in range(weights.members):
        emb = a["emb"][k]
        bag_dim = int(emb.shape[1])
        hidden = int(a["w1"].shape[2])
        size = max(vocab_size or 0, emb.shape[0])
        net = RouterNet(size, bag_dim, hidden, max(1, len(models)))
        with torch.no_grad():
            net.emb.weight.zero_()
            net.emb.weight[: emb.shape[0]] = torch.from_numpy(emb.copy())
            for layer, w, b in (
                (net.fc, "w1", "b1"),
                (net.cat, "wc", "bc"),
                (net.diff, "wd", "bd"),
                (net.temp, "wt", "bt"),
            ):
                layer.weight.copy_(torch.from_numpy(a[w][k].T.copy()))
                layer.bias.copy_(torch.from_numpy(a[b][k].copy()))
            net.model.weight.zero_()
            net.model.bias.zero_()
            for new_i, name in enumerate(models):
                if name in old_models:
                    old_i = old_models.index(name)
                    net.model.weight[new_i] = torch.from_numpy(a["wm"][k][:, old_i].copy())
                    net.model.bias[new_i] = float(a["bm"][k][old_i])
        nets.append(net)
    return nets
