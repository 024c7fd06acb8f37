"""Backend registry: names in config map to classes that are imported only when used.

Third-party backends register through the ``tsr_lsp.backends`` entry-point group
(``name = "package.module:Class"``), the same idea as simonw/llm's plugin registry.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsr_lsp.backends.base import Backend
    from tsr_lsp.config import ModelProfile

_BUILTIN = {
    "llama_cpp": "tsr_lsp.backends.llama_cpp:LlamaCppBackend",
    "hf_transformers": "tsr_lsp.backends.hf_transformers:HfTransformersBackend",
    "openai_http": "tsr_lsp.backends.openai_http:OpenAIHttpBackend",
    "fake": "tsr_lsp.backends.fake:FakeBackend",
}
_registered: dict[str, str] = {}


def register_backend(name: str, target: str) -> None:
    """Register ``module:Class`` under ``name`` (for plugins and tests)."""
    _registered[name] = target
    _plugins.cache_clear()


@cache
def _plugins() -> dict[str, str]:
    from importlib.metadata import entry_points  # ~15 ms of imports: only when needed

    found = {ep.name: ep.value for ep in entry_points(group="tsr_lsp.backends")}
    return {**_BUILTIN, **found, **_registered}


def known_backends() -> list[str]:
    return sorted(_plugins())


def is_known_backend(name: str) -> bool:
    """Built-in and registered names are known without scanning installed packages'
    entry points, which every settings load (every daemon start) would otherwise pay."""
    return name in _BUILTIN or name in _registered or name in _plugins()


def create_backend(name: str, profile_name: str, profile: ModelProfile) -> Backend:
    from tsr_lsp.backends.base import ModelLoadError

    target = _plugins().get(profile.backend)
    if target is None:
        raise ModelLoadError(
            f"profile {profile_name!r}: unknown backend {profile.backend!r} "
            f"(known: {', '.join(known_backends())})"
        )
    module_name, _, cls_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"profile {profile_name!r}: backend {profile.backend!r} needs a package that is not "
            f"installed ({exc.name}); see `tsr-lsp doctor`"
        ) from exc
    backend: Backend = cls(profile_name, profile)
    return backend
