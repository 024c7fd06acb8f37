"""Choose the category predictor named by ``router.weights``.

"" means the shipped pretrained weights, "rules" the keyword baseline, anything else a path
to weights from ``tsr-lsp router train``. Until pretrained weights exist the keyword router
is used and says so in its name.
"""

from __future__ import annotations

import logging

from tsr_lsp.config import Settings
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.rules import keyword_predict

log = logging.getLogger(__name__)


class KeywordRouter:
    name = "rules"

    def predict(self, request: RouteRequest) -> Prediction:
        return keyword_predict(request)


def load_router(settings: Settings) -> KeywordRouter:
    if settings.router.weights not in ("", "rules"):
        log.warning("router weights %s not supported yet; using rules", settings.router.weights)
    return KeywordRouter()
