"""Typed settings: one object, layered from TOML files and the editor, never all-or-nothing.

Layers, later wins: built-in defaults < user ``config.toml`` < project ``.tsr/config.toml``
< LSP ``initializationOptions`` < ``workspace/configuration``. Each layer is applied field by
field: a bad value keeps the previous layer's value and yields a warning naming the key, so
one typo never throws away a whole file. Keys may be snake_case (TOML) or camelCase (wire).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from tsr_lsp import paths

CATEGORIES = (
    "code",
    "math",
    "reasoning",
    "writing",
    "extraction",
    "analysis",
    "knowledge",
    "chat",
)

KINDS = ("chat", "inline_completion", "explain", "refactor", "fix", "tests", "ask")


@dataclass
class ModelProfile:
    """One model the router may pick: which backend runs it, and what it is good at."""

    backend: str = "llama_cpp"
    path: str = ""
    url: str = ""
    model: str = ""
    api_key_env: str = ""
    tags: list[str] = field(default_factory=lambda: ["general"])
    cost: float = 1.0
    n_ctx: int = 4096
    n_threads: int = 0
    n_gpu_layers: int = 0
    pin: bool = False
    sha256: str = ""
    size: int = 0
    timeout_s: float = 60.0
    max_retries: int = 2
    device: str = "auto"
    memory_mb: int = 0
    # openai_http only: how the endpoint's model spells fill-in-the-middle, e.g.
    # "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>" (llama_cpp reads the GGUF).
    fim_template: str = ""


METHODS = ("steps", "program")


@dataclass
class CategoryPolicy:
    """How a task category is served: model capability tags, CoT range and sampling."""

    tags: list[str] = field(default_factory=lambda: ["general"])
    cot_min: int = 0
    cot_max: int = 0
    temperature: float = 0.3
    top_p: float = 0.95
    max_tokens: int = 512
    template: str = "ask"
    # the range that feedback and a trained temperature head may move the temperature in
    temperature_min: float = 0.0
    temperature_max: float = 1.0
    # how the answer is produced: "steps" (reasoning in CoT steps, then the answer) or
    # "program" (maths: the model writes arithmetic, the server computes it; steps when the
    # request asks for no number or the program does not compute)
    method: str = "steps"


def default_policy() -> dict[str, CategoryPolicy]:
    """The product's default policy table (docs/ROUTER.md explains each row)."""
    return {
        "code": CategoryPolicy(["code"], 0, 3, 0.2, 0.95, 512, "ask", 0.0, 0.3),
        "math": CategoryPolicy(
            ["code", "general"], 2, 4, 0.2, 0.95, 512, "ask", 0.0, 0.3, method="program"
        ),
        "reasoning": CategoryPolicy(["general"], 1, 4, 0.4, 0.95, 512, "ask", 0.0, 0.5),
        "writing": CategoryPolicy(["general"], 0, 0, 0.8, 0.95, 512, "ask", 0.7, 1.0),
        "extraction": CategoryPolicy(["general"], 0, 0, 0.2, 0.9, 384, "ask", 0.0, 0.3),
        "analysis": CategoryPolicy(["general"], 0, 1, 0.3, 0.9, 384, "ask", 0.0, 0.4),
        "knowledge": CategoryPolicy(["general"], 0, 1, 0.5, 0.95, 384, "ask", 0.3, 0.7),
        "chat": CategoryPolicy(["general"], 0, 0, 0.6, 0.95, 256, "chat", 0.5, 0.9),
    }


def default_models() -> dict[str, ModelProfile]:
    from tsr_lsp.modelfiles import DEFAULT_MODELS

    models_dir = paths.models_dir()
    return {
        spec.profile: ModelProfile(
            backend="llama_cpp",
            path=str(models_dir / spec.filename),
            tags=list(spec.tags),
            cost=spec.cost,
            n_ctx=spec.n_ctx,
            pin=spec.pin,
            sha256=spec.sha256,
            size=spec.size,
        )
        for spec in DEFAULT_MODELS
    }


# chosen on the calibration tasks' leave-one-out trade-off with three profiles (ROUTER.md)
DEFAULT_QUALITY = 0.85


@dataclass
class RouterSettings:
    weights: str = ""
    min_confidence: float = 0.35
    fallback_profile: str = "general"
    # graded outcomes pick the model: the cheapest profile predicted to succeed at least
    # `quality` x the best profile's rate (docs/ROUTER.md); 1.0 = always the best
    quality: float = DEFAULT_QUALITY
    # "" = shipped calibration + `tsr-lsp router calibrate` results; "off"; or a JSONL path
    outcomes: str = ""
    policy: dict[str, CategoryPolicy] = field(default_factory=default_policy)


@dataclass
class MemorySettings:
    enabled: bool = True
    dir: str = ""
    max_episodes_per_project: int = 20_000
    max_disk_mb: int = 512
    retention_days: int = 365
    writer_heap_mb: int = 32
    prompt_episodes: int = 4
    prompt_token_budget: int = 400
    prompt_patterns: int = 3
    # relevance gate (memory/relevance.py, docs/ANSWERS.md): the share of a request's
    # content words an episode must hold to enter its prompt (0.9: a near-repeat); the
    # second applies when the request refers back ("continue the CSV parser", "the function
    # we wrote earlier") and to pinned facts
    prompt_min_relevance: float = 0.9
    prompt_min_relevance_followup: float = 0.25
    # "auto": the static encoder distilled from all-MiniLM-L6-v2 (built once per machine
    # when the `memory` extra and the MiniLM wheel are installed; docs/MEMORY.md); "minilm":
    # the full model (better recall, 10-40 ms a query, ~400 MB); "off": lexical ranking
    # only; or a path to a sentence-transformers folder
    embeddings: str = "auto"
    record_interactions: bool = True  # one episode per tsr/generate
    consolidate_delay_s: float = 2.0  # background consolidation after new outcomes
    # memory's share of the daemon's RSS (what `bench memory` checks): index, vectors and the
    # static encoder take ~120 MB at 100k episodes; "minilm" adds torch and the model (~400 MB)
    max_rss_mb: int = 400


@dataclass
class DaemonSettings:
    enabled: bool = True
    socket: str = ""
    idle_timeout_s: float = 1800.0  # the daemon exits after this long with no editor
    # models (pinned ones too) unload after this long unused, so an idle daemon gives its
    # memory back; 0 keeps them loaded. Applies to in-process servers as well.
    idle_unload_s: float = 600.0
    # with no editor connected, the daemon starts afresh in place (same pid and socket) when
    # this much freed memory stays resident after its idle release; 0 never
    recycle_stranded_mb: float = 20.0
    tcp_port: int = 0
    tcp_token_env: str = "TSR_LSP_TOKEN"


@dataclass
class CompletionSettings:
    """Inline completion (docs/COMPLETION.md says why each default is what it is)."""

    enabled: bool = True
    # the 1.5B coder (docs/COMPLETION.md, "FIM model"); not available, or "": the cheapest
    # available profile tagged "fim" (the 0.5B coder)
    profile: str = "fim"
    max_tokens: int = 48  # multi-line suggestions; a single line stops at its newline
    prefix_tokens: int = 640  # window above the cursor (cached between requests)
    suffix_tokens: int = 256  # below it (evaluated again every line; 96 cost half the dev EM)
    definition_suffix: bool = True  # the suffix ends with the definition around the cursor
    chunk_tokens: int = 256  # chunks of other open or edited files, before the window
    extra_context: bool = False  # use those chunks (repository-level FIM): off, see COMPLETION.md
    max_ms: int = 2000  # generation budget for lines after the first (multi-line)
    debounce_ms: int = 60  # wait for a newer request of the same document before working
    multiline: str = "auto"  # auto | never | always
    prefetch_on_open: bool = True  # evaluate a file's window when it opens (KV cache)
    max_file_kb: int = 2048  # larger documents get no completion
    heal: bool = False  # leave the cursor line's trailing spaces out of the prompt
    n_ctx: int = 2048  # context of the completion lane's model instance
    fim_order: str = "psm"  # psm | spm (suffix first: typing forward reuses its KV cache)
    reuse_suffix: bool = True  # move cached KV cells (suffix typing forward, window; llama.cpp)
    # after a suggestion is shown, ask for the line after it as if accepted (llama.vscode's
    # speculative FIM): Enter after accepting finds it in the cache
    speculative: bool = True

    @property
    def file_prewarm_tokens(self) -> int:
        """How much of a file, from its top, ``prefetch_on_open`` evaluates: three quarters
        of the lane's context (token counts are estimates; the rest is slack), and at least
        one window. The llama.cpp backend moves a later request's window out of it."""
        return max(self.prefix_tokens, self.n_ctx * 3 // 4)


@dataclass
class LintSettings:
    enabled: bool = True
    custom_tags: list[str] = field(default_factory=list)
    extra_filters: list[str] = field(default_factory=list)
    extra_tests: list[str] = field(default_factory=list)
    extra_globals: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    debounce_ms: int = 200
    # folders that resolve include/import/extends names (like a FileSystemLoader), relative
    # to the project root; empty = search the linted tree (missing targets are warnings)
    template_paths: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=lambda: [".jinja", ".jinja2", ".j2"])
    strict: bool = False  # unknown filters/tests/tags are errors in every template
    kind: str = "auto"  # auto | prompt | chat | generic


DOCSTRING_STYLES = ("summary", "full")


@dataclass
class ActionsSettings:
    """AI code actions (docs/PROTOCOL.md): offered on any non-template document."""

    enabled: bool = True
    max_tokens: int = 0  # 0: the router's per-category budget
    tests_dir: str = ""  # relative to the project root; "" = tests/ (or an existing test/)
    # Add docstring (Python): "summary" writes the one-sentence summary line and stops the
    # model there; "full" asks for the parameters and return value too (about 8x the tokens)
    docstring: str = "summary"


@dataclass
class ServerSettings:
    """Limits that keep one client's input from stalling the others (the daemon serves every
    editor window on one event loop)."""

    max_document_mb: float = 2.0  # larger (or binary) documents are not processed at all
    max_text_kb: int = 256  # the text of tsr/route and tsr/generate, a memory search query
    render_timeout_s: float = 2.0  # a template render preview (in a worker process)
    render_memory_mb: int = 512  # that worker's address-space limit


@dataclass
class Settings:
    models: dict[str, ModelProfile] = field(default_factory=default_models)
    router: RouterSettings = field(default_factory=RouterSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    lint: LintSettings = field(default_factory=LintSettings)
    actions: ActionsSettings = field(default_factory=ActionsSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    memory_budget_mb: int = 4096
    log_level: str = "info"

    def profile(self, name: str) -> ModelProfile:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise UnknownProfileError(
                f"unknown model profile {name!r} (configured: {known}); "
                f"add [models.{name}] to {paths.user_config_file()}"
            ) from None

    def memory_path(self) -> Path:
        return Path(self.memory.dir).expanduser() if self.memory.dir else paths.memory_dir()


class UnknownProfileError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------- conversion


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def strict_converter() -> cattrs.Converter:
    """cattrs with strict primitives: "yes" is not a bool, 1.5 is not an int, and a string
    is not a list (cattrs would split it into characters)."""
    conv = cattrs.Converter()

    def check(kind: type, accept: tuple[type, ...]) -> None:
        def hook(value: Any, _: type) -> Any:
            if isinstance(value, bool) and kind is not bool:
                raise TypeError(f"expected {kind.__name__}, got a boolean")
            if not isinstance(value, accept):
                raise TypeError(f"expected {kind.__name__}, got {_short(value)}")
            return kind(value)

        conv.register_structure_hook(kind, hook)

    check(bool, (bool,))
    check(int, (int,))
    check(float, (int, float))
    check(str, (str,))

    def is_list(hint: Any) -> bool:
        return typing.get_origin(hint) is list

    def list_hook_factory(hint: Any) -> Any:
        (item,) = typing.get_args(hint) or (Any,)

        def hook(value: Any, _: type) -> Any:
            if not isinstance(value, list):
                raise TypeError(f"expected a list, got {_short(value)}")
            return [conv.structure(v, item) for v in value]

        return hook

    conv.register_structure_hook_factory(is_list, list_hook_factory)
    return conv


_converter = strict_converter()
_wire = cattrs.Converter()


def _camel_case_hook(cls: Any) -> Any:
    renames: dict[str, Any] = {
        f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)
    }
    return make_dict_unstructure_fn(cls, _wire, **renames)


_wire.register_unstructure_hook_factory(dataclasses.is_dataclass, _camel_case_hook)


def to_wire(settings: Settings) -> dict[str, Any]:
    """Settings as camelCase JSON, the shape editors send and receive."""
    result: dict[str, Any] = _wire.unstructure(settings)
    return result


def apply_layer(obj: Any, raw: Any, where: str, warnings: list[str], prefix: str = "") -> None:
    """Apply one layer of raw settings onto ``obj`` in place, field by field."""
    if not isinstance(raw, dict):
        warnings.append(f"{where}: '{prefix or 'settings'}' must be a table; ignored")
        return
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in raw.items():
        name = _snake(str(key))
        dotted = f"{prefix}{name}"
        if name not in names:
            warnings.append(f"{where}: unknown setting '{dotted}' ignored")
            continue
        hint = hints[name]
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            apply_layer(current, value, where, warnings, dotted + ".")
        elif typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            _apply_table(current, typing.get_args(hint)[1], value, where, warnings, dotted)
        else:
            try:
                setattr(obj, name, _converter.structure(value, hint))
            except Exception as exc:  # cattrs raises several types; all mean "bad value"
                warnings.append(
                    f"{where}: invalid value for '{dotted}' ({_reason(exc)}); keeping {current!r}"
                )


def _apply_table(
    table: dict[str, Any], cls: type, raw: Any, where: str, warnings: list[str], dotted: str
) -> None:
    if not isinstance(raw, dict):
        warnings.append(f"{where}: '{dotted}' must be a table of tables; ignored")
        return
    for name, value in raw.items():
        entry = table.get(name)
        if entry is None:
            entry = cls()
            if cls is ModelProfile:
                entry.tags = ["general"]
        apply_layer(entry, value, where, warnings, f"{dotted}.{name}.")
        table[name] = entry


def _reason(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return str(exc) or type(exc).__name__


UNREADABLE = "cannot read config"


def read_toml(path: Path, warnings: list[str]) -> dict[str, Any]:
    """Read a TOML file; a missing file is empty, an unreadable one is a warning."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        warnings.append(f"{path}: {UNREADABLE} ({exc}); fix or remove the file")
        return {}


def project_config_file(project_root: Path) -> Path:
    return project_root / ".tsr" / "config.toml"


@dataclass
class Loaded:
    """Settings as built for one project, with what was wrong and what trust held back."""

    settings: Settings
    warnings: list[str]
    untrusted: list[str] = field(default_factory=list)  # project keys ignored (dotted)


def load_settings(
    project_root: Path | None = None,
    *layers: tuple[str, Any],
    user_file: Path | None = None,
) -> tuple[Settings, list[str]]:
    """Build the settings for a project; returns the settings and human-readable warnings."""
    loaded = load(project_root, *layers, user_file=user_file)
    return loaded.settings, loaded.warnings


def load(
    project_root: Path | None = None,
    *layers: tuple[str, Any],
    user_file: Path | None = None,
    trusted: bool | None = None,
) -> Loaded:
    """Defaults, the user file, the project file, then ``layers`` (the editor's). Keys of the
    project file that change where data goes or what runs apply only when the project is
    trusted (tsr_lsp/trust.py; ``trusted`` None = look it up)."""
    from tsr_lsp import trust

    warnings: list[str] = []
    settings = Settings()
    user_file = user_file or paths.user_config_file()
    apply_layer(settings, read_toml(user_file, warnings), str(user_file), warnings)
    untrusted: list[str] = []
    if project_root is not None:
        pfile = project_config_file(project_root)
        raw = read_toml(pfile, warnings)
        kept, dropped = trust.untrusted_view(raw, settings.models)
        if dropped and not (trust.is_trusted(project_root) if trusted is None else trusted):
            raw, untrusted = kept, dropped
            warnings.append(
                f"{pfile}: ignored {', '.join(dropped)}: this folder is not trusted to change "
                f"where data goes or what runs (`tsr-lsp trust {project_root}` applies them)"
            )
        if raw:
            apply_layer(settings, raw, str(pfile), warnings)
    for where, layer in layers:
        if layer:
            apply_layer(settings, layer, where, warnings)
    _validate(settings, warnings)
    return Loaded(settings, warnings, untrusted)


def _validate(settings: Settings, warnings: list[str]) -> None:
    """Cross-field checks that a type alone cannot express."""
    from tsr_lsp.backends import is_known_backend, known_backends

    for name, prof in settings.models.items():
        if not is_known_backend(prof.backend):
            warnings.append(
                f"models.{name}.backend: unknown backend {prof.backend!r} "
                f"(known: {', '.join(known_backends())})"
            )
    if not 0 <= settings.actions.max_tokens <= 32768:
        warnings.append(
            f"actions.max_tokens: {settings.actions.max_tokens} is outside 0..32768; using 0 "
            "(the router's budget)"
        )
        settings.actions.max_tokens = 0
    if settings.actions.docstring not in DOCSTRING_STYLES:
        warnings.append(
            f"actions.docstring: {settings.actions.docstring!r} is not summary or full; "
            "using summary"
        )
        settings.actions.docstring = "summary"
    for cat in list(settings.router.policy):
        if cat not in CATEGORIES:
            warnings.append(f"router.policy.{cat}: unknown category ignored")
            del settings.router.policy[cat]
    if settings.router.fallback_profile not in settings.models and settings.models:
        first = next(iter(settings.models))
        warnings.append(
            f"router.fallback_profile: no profile named {settings.router.fallback_profile!r}; "
            f"using {first!r}"
        )
        settings.router.fallback_profile = first
    for cat, pol in settings.router.policy.items():
        if not pol.temperature_min <= pol.temperature <= pol.temperature_max:
            warnings.append(
                f"router.policy.{cat}: temperature {pol.temperature:g} outside "
                f"temperature_min..temperature_max ({pol.temperature_min:g}.."
                f"{pol.temperature_max:g}); widening the range to include it"
            )
            pol.temperature_min = min(pol.temperature_min, pol.temperature)
            pol.temperature_max = max(pol.temperature_max, pol.temperature)
        if pol.cot_max < pol.cot_min:
            warnings.append(f"router.policy.{cat}: cot_max < cot_min; using cot_max = cot_min")
            pol.cot_max = pol.cot_min
        if pol.method not in METHODS:
            warnings.append(
                f"router.policy.{cat}: method {pol.method!r} is not steps or program; using steps"
            )
            pol.method = "steps"
    if not 0.0 <= settings.router.quality <= 1.0:
        warnings.append(f"router.quality: must be within 0..1; using {DEFAULT_QUALITY:g}")
        settings.router.quality = DEFAULT_QUALITY
    comp = settings.completion
    if comp.multiline not in ("auto", "never", "always"):
        warnings.append(
            f"completion.multiline: {comp.multiline!r} is not auto, never or always; using auto"
        )
        comp.multiline = "auto"
    if comp.fim_order not in ("psm", "spm"):
        warnings.append(f"completion.fimOrder: {comp.fim_order!r} is not psm or spm; using psm")
        comp.fim_order = "psm"
    if not 0.0 <= settings.router.min_confidence <= 1.0:
        warnings.append("router.min_confidence: must be within 0..1; using 0.35")
        settings.router.min_confidence = 0.35
    mem = settings.memory
    for key, default in (("prompt_min_relevance", 0.9), ("prompt_min_relevance_followup", 0.25)):
        if not 0.0 <= getattr(mem, key) <= 1.0:
            warnings.append(f"memory.{key}: must be within 0..1; using {default}")
            setattr(mem, key, default)
