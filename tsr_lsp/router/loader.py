"""Choose the category predictor named by ``router.weights``.

"" means the shipped pretrained weights, "rules" the keyword baseline, anything else a path
to weights written by ``tsr-lsp router train``. Weights that cannot be read fall back to the
keyword rules with a warning (routing must never stop working), and the router's name says
so in every decision (``router`` field).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from tsr_lsp.config import Settings
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.rules import keyword_predict

log = logging.getLogger(__name__)

PRETRAINED = Path(__file__).parent / "pretrained" / "router.tsrw"


class Router(Protocol):
    name: str

    def predict(self, request: RouteRequest, history: Any = None) -> Prediction: ...


class KeywordRouter:
    def __init__(self, name: str = "rules"):
        self.name = name

    def predict(self, request: RouteRequest, history: Any = None) -> Prediction:
        prediction = keyword_predict(request)
        prediction.source = self.name
        return prediction


def weights_path(setting: str) -> Path:
    return PRETRAINED if setting == "" else Path(setting).expanduser()


def load_router(settings: Settings) -> Router:
    """The configured router; numpy only (torch is never imported on this path)."""
    setting = settings.router.weights
    if setting == "rules":
        return KeywordRouter()
    from tsr_lsp.router.infer import TrainedRouter, WeightsError, load_weights

    path = weights_path(setting)
    name = "pretrained" if setting == "" else f"trained:{path.name}"
    try:
        router = TrainedRouter(load_weights(path), name)
    except WeightsError as exc:
        log.warning("%s; routing with the keyword rules instead", exc)
        return KeywordRouter("rules (weights unusable)")
    _ = router.weights.index  # build the vocabulary index now, not on the first request
    return router
