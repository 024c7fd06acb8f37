"""Policy: a category prediction becomes a concrete model profile and generation settings.

Pure: no I/O. Profiles are chosen by capability tags and cost, so users swap models in
config without retraining the router.
"""

from __future__ import annotations

from collections.abc import Iterable

from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.memory.api import SettingStats
from tsr_lsp.router.decision import Decision, Prediction, RouteRequest
from tsr_lsp.router.feedback import adjust

KIND_TEMPLATES = {
    "explain": "explain",
    "refactor": "refactor",
    "fix": "fix",
    "tests": "tests",
    "inline_completion": "inline_completion",
}


def pick_profile(
    models: dict[str, ModelProfile], tags: Iterable[str], available: set[str]
) -> str | None:
    """The cheapest available profile carrying the first tag that any profile carries."""
    for tag in tags:
        candidates = [
            (prof.cost, name)
            for name, prof in models.items()
            if tag in prof.tags and name in available
        ]
        if candidates:
            return min(candidates)[1]
    return None


def decide(
    prediction: Prediction,
    request: RouteRequest,
    settings: Settings,
    available: set[str],
    feedback: Iterable[SettingStats] = (),
) -> Decision:
    """Prediction -> Decision inside the category's policy row. A trained temperature head
    and user feedback statistics may move temperature and CoT, never outside the row's
    ranges; a learned model override applies only to an available profile."""
    if request.kind == "inline_completion":
        return _inline(prediction, settings, available)
    category = prediction.category
    pol = settings.router.policy.get(category) or settings.router.policy["chat"]
    span = max(0, pol.cot_max - pol.cot_min)
    cot = pol.cot_min + round(min(1.0, max(0.0, prediction.difficulty)) * span)
    temperature = pol.temperature
    notes: list[str] = []
    if prediction.temperature is not None:
        learned = round(
            min(pol.temperature_max, max(pol.temperature_min, prediction.temperature)), 2
        )
        if abs(learned - temperature) >= 0.05:
            temperature = learned
            notes.append(f"temperature {learned:g} learned from training data")
    temperature, cot, why = adjust(feedback, category, request.text, pol, temperature, cot)
    if why:
        notes.append(why)
    model = pick_profile(settings.models, pol.tags, available)
    if prediction.model and prediction.model in available and prediction.model != model:
        model = prediction.model
        notes.append(f"model '{model}' learned from training data")
    confidence = prediction.confidence
    fallback = False
    if confidence < settings.router.min_confidence:
        fallback = True
        model = settings.router.fallback_profile
        notes.append(
            f"low confidence {confidence:.2f} < {settings.router.min_confidence:.2f}: "
            f"fallback '{model}'"
        )
    elif model is None:
        fallback = True
        model = settings.router.fallback_profile
        notes.append(f"no available profile tagged {'/'.join(pol.tags)}: fallback '{model}'")
    template = KIND_TEMPLATES.get(request.kind, pol.template)
    explanation = (
        f"{category} ({confidence:.2f}) -> {model}, CoT {cot}, temperature {temperature:g}"
    )
    if notes:
        explanation += "; " + "; ".join(notes)
    return Decision(
        category=category,
        model=model,
        cot_steps=cot,
        temperature=temperature,
        top_p=pol.top_p,
        max_tokens=pol.max_tokens,
        template=template,
        confidence=confidence,
        explanation=explanation,
        scores=prediction.scores,
        router=prediction.source,
        fallback=fallback,
    )


def _inline(prediction: Prediction, settings: Settings, available: set[str]) -> Decision:
    comp = settings.completion
    model = comp.profile if comp.profile in available else None
    model = model or pick_profile(settings.models, ["fim", "code"], available)
    fallback = model is None
    model = model or settings.router.fallback_profile
    return Decision(
        category="code",
        model=model,
        cot_steps=0,
        temperature=0.1,
        top_p=0.9,
        max_tokens=comp.max_tokens,
        template="inline_completion",
        confidence=1.0,
        explanation=f"inline completion -> {model} (fill-in-the-middle), CoT 0",
        scores={"code": 1.0},
        router=prediction.source,
        fallback=fallback,
    )
