"""Policy: a category prediction becomes a concrete model profile and generation settings.

Pure: no I/O. Profiles are chosen by capability tags and cost, so users swap models in
config without retraining the router.
"""

from __future__ import annotations

from collections.abc import Iterable

from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.memory.api import SettingStats
from tsr_lsp.prompts import program
from tsr_lsp.router.decision import Decision, Prediction, RouteRequest
from tsr_lsp.router.feedback import adjust
from tsr_lsp.router.success import (
    Estimate,
    SuccessTable,
    choose,
    fingerprint,
    meaning_vector,
)

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


def answer_profiles(settings: Settings) -> list[str]:
    """The profiles a category's row can route a request to (carrying a tag some row
    names): what calibration measures. An inline-only profile (the default ``fim``) is not
    one of them."""
    tags = {tag for pol in settings.router.policy.values() for tag in pol.tags}
    return sorted(n for n, prof in settings.models.items() if tags & set(prof.tags))


HEDGE_MIN_SCORE = 0.02  # runner-up categories below this probability are ignored
HEDGE_MIN_GAIN = 0.02  # and hedging must raise the expected fit by at least this much


def _tag_for(category: str, settings: Settings, available: set[str]) -> str | None:
    pol = settings.router.policy.get(category)
    if pol is None:
        return None
    for tag in pol.tags:
        if any(tag in settings.models[n].tags for n in available if n in settings.models):
            return tag
    return None


def hedge(
    scores: dict[str, float],
    category: str,
    settings: Settings,
    available: set[str],
    model: str,
    cot: int,
    temperature: float,
) -> tuple[str, int, float, str]:
    """Settings that also suit the runner-up categories when the router is unsure.

    Among the settings inside the predicted category's policy row (model carrying its tag,
    CoT and temperature in its ranges), pick the one that maximises the probability-weighted
    number of categories whose rows it also satisfies; keep the defaults unless that gains
    at least HEDGE_MIN_GAIN. E.g. knowledge (0.6) vs reasoning (0.35): CoT 1 and temperature
    0.5 suit both rows, so a misjudged puzzle still gets a reasoning step.
    """
    pol = settings.router.policy[category]
    others = {c: p for c, p in scores.items() if c != category and p >= HEDGE_MIN_SCORE}
    if not others:
        return model, cot, temperature, ""
    eps = 1e-9
    rows = []  # (probability, tag, cot range, temperature range, category) per category
    temps = {temperature}
    for c, p in [(category, scores.get(category, 0.0)), *others.items()]:
        row = settings.router.policy.get(c)
        tag = _tag_for(c, settings, available)
        if row is None or tag is None:
            continue
        rows.append((p, tag, row.cot_min, row.cot_max, row.temperature_min, row.temperature_max, c))
        temps |= {row.temperature, row.temperature_min, row.temperature_max}
    own_tag = _tag_for(category, settings, available)
    # a runner-up category never moves the request to a costlier model on its own (a 2%
    # "code" runner-up once sent a knowledge question to the coder); outcomes may (below)
    cost = settings.models[model].cost
    models = [
        n
        for n in sorted(available)
        if n in settings.models
        and own_tag in settings.models[n].tags
        and settings.models[n].cost <= cost
    ]
    temps = {t for t in temps if pol.temperature_min - eps <= t <= pol.temperature_max + eps}

    def served(tags: list[str], k: int, t: float) -> list[tuple[str, float]]:
        return [
            (c, p)
            for p, tag, c_lo, c_hi, t_lo, t_hi, c in rows
            if tag in tags and c_lo <= k <= c_hi and t_lo - eps <= t <= t_hi + eps
        ]

    def fit(tags: list[str], k: int, t: float) -> float:
        return sum(p for _, p in served(tags, k, t))

    base = fit(settings.models[model].tags, cot, temperature)
    best = (base, 0.0, 0.0, 0.0, model, cot, temperature)
    for m in models:
        tags = settings.models[m].tags
        extra_cost = settings.models[m].cost - settings.models[model].cost
        for k in range(pol.cot_min, pol.cot_max + 1):
            for t in sorted(temps):
                cand = (fit(tags, k, t), -abs(k - cot), -abs(t - temperature), -extra_cost, m, k, t)
                if cand[:4] > best[:4]:
                    best = cand
    if best[0] < base + HEDGE_MIN_GAIN:
        return model, cot, temperature, ""
    _, _, _, _, m, k, t = best
    changed = [
        *([f"model {m}"] if m != model else []),
        *([f"CoT {k}"] if k != cot else []),
        *([f"temperature {t:g}"] if abs(t - temperature) > 1e-9 else []),
    ]
    helped = [(c, p) for c, p in served(settings.models[m].tags, k, t) if c in others]
    runners = ", ".join(f"{c} {p:.2f}" for c, p in sorted(helped, key=lambda x: -x[1]))
    return m, k, t, f"unsure ({runners}): {', '.join(changed)} also suits that"


def by_outcomes(
    prediction: Prediction,
    request: RouteRequest,
    settings: Settings,
    available: set[str],
    table: SuccessTable | None,
    current: str,
) -> tuple[Estimate, str] | None:
    """The configuration (profile, CoT depth) graded outcomes favour for this request: the
    cheapest within router.quality of the best predicted success, and the evidence. None
    without evidence to compare, including when the row's own profile was never calibrated
    at the table's settings. Profiles without one of the row's tags (an inline-only model)
    and depths outside the row are not candidates."""
    if table is None or not len(table):
        return None
    pol = settings.router.policy.get(prediction.category)
    row_tags = set(pol.tags) if pol is not None else set()
    profiles = {
        n: fingerprint(settings.models[n])
        for n in sorted(available)
        if n in settings.models and (not row_tags or row_tags & set(settings.models[n].tags))
    }
    vec = prediction.meaning if prediction.meaning else meaning_vector(request.text)
    estimates = table.predict(vec, prediction.category, profiles)
    if current not in estimates:
        return None
    if pol is not None:
        estimates = {
            n: e
            for n, e in estimates.items()
            if e.cot is None or pol.cot_min <= e.cot <= pol.cot_max
        }
    costs = {e.profile: settings.models[e.profile].cost for e in estimates.values()}
    picked = choose(estimates, costs, settings.router.quality)
    if picked is None:
        return None
    return estimates[picked[0]], picked[1]


def decide(
    prediction: Prediction,
    request: RouteRequest,
    settings: Settings,
    available: set[str],
    feedback: Iterable[SettingStats] = (),
    success: SuccessTable | None = None,
) -> Decision:
    """Prediction -> Decision inside the category's policy row. A trained temperature head
    and user feedback statistics may move temperature and CoT, never outside the row's
    ranges; graded outcomes (``success``) pick the model and, where calibrated at several
    depths, the CoT depth; a learned model override applies only to an available profile."""
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
    model = pick_profile(settings.models, pol.tags, available)
    fixed_depth = False
    if model is not None:
        model, cot, temperature, why = hedge(
            prediction.scores, category, settings, available, model, cot, temperature
        )
        if why:
            notes.append(why)
        evidence = by_outcomes(prediction, request, settings, available, success, model)
        if evidence is not None:
            model = evidence[0].profile
            # a depth the evidence was graded at, unless the hedge already changed the depth;
            # a fixed depth was graded in steps (calibrate), so it is answered in steps
            if evidence[0].cot is not None and not why:
                cot = evidence[0].cot
                fixed_depth = True
            notes.append(evidence[1])
    temperature, cot, why = adjust(feedback, category, request.text, pol, temperature, cot)
    if why:
        notes.append(why)
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
    method = (
        "steps" if fixed_depth else answer_method(pol.method, request, settings.models.get(model))
    )
    how = f"a program (CoT {cot} if it does not compute)" if method == "program" else f"CoT {cot}"
    explanation = f"{category} ({confidence:.2f}) -> {model}, {how}, temperature {temperature:g}"
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
        method=method,
    )


def answer_method(row_method: str, request: RouteRequest, profile: ModelProfile | None) -> str:
    """The row's method, except that a program is written only by a code model and answers
    only a question of its own that asks for a number (not an editor action's template, not
    a question about selected code). The 135M general model's programs rarely compute, so it
    paid the program and then the steps (5.3 s against 2.1 s a calibration task)."""
    if (
        row_method != "program"
        or profile is None
        or "code" not in profile.tags
        or request.kind in KIND_TEMPLATES
        or request.context.strip()
    ):
        return "steps"
    return "program" if program.suits(request.text) else "steps"


def inline_profile(settings: Settings, available: set[str]) -> str | None:
    """The profile inline completion runs on: ``completion.profile`` when available, else
    the cheapest available profile tagged ``fim`` (then ``code``); None: no such profile."""
    name = settings.completion.profile
    if name in available:
        return name
    return pick_profile(settings.models, ["fim", "code"], available)


def _inline(prediction: Prediction, settings: Settings, available: set[str]) -> Decision:
    comp = settings.completion
    model = inline_profile(settings, available)
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
