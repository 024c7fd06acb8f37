"""What the linter knows about Jinja itself: tags, filters, tests, globals, the chat-template
contract and the sandbox's rules. Names only at import time; docs are looked up lazily (for
hover and completion) so linting stays cheap.
"""

from __future__ import annotations

import inspect
from functools import lru_cache

import jinja2.defaults
import jinja2.filters
import jinja2.tests

BUILTIN_FILTERS: frozenset[str] = frozenset(jinja2.filters.FILTERS)
BUILTIN_TESTS: frozenset[str] = frozenset(jinja2.tests.TESTS)
BUILTIN_GLOBALS: frozenset[str] = frozenset(jinja2.defaults.DEFAULT_NAMESPACE)

# tag -> (end tag, middle tags). Core statements of Jinja 3.
BLOCK_TAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "for": ("endfor", ("else",)),
    "if": ("endif", ("elif", "else")),
    "block": ("endblock", ()),
    "macro": ("endmacro", ()),
    "call": ("endcall", ()),
    "filter": ("endfilter", ()),
    "with": ("endwith", ()),
    "autoescape": ("endautoescape", ()),
    "raw": ("endraw", ()),
    # extensions that real projects enable (i18n, Hugging Face's chat-template tracker)
    "trans": ("endtrans", ("pluralize",)),
    "generation": ("endgeneration", ()),
}
# ``set`` is a block only in its ``{% set x %}...{% endset %}`` form.
SINGLE_TAGS: frozenset[str] = frozenset(
    {"extends", "include", "import", "from", "set", "print", "do", "break", "continue", "debug"}
)
EXTENSION_TAGS: frozenset[str] = frozenset({"do", "break", "continue", "debug", "trans"})
ALL_TAG_NAMES: frozenset[str] = frozenset(
    [*BLOCK_TAGS, *SINGLE_TAGS, "endset"]
    + [end for end, _ in BLOCK_TAGS.values()]
    + [m for _, mids in BLOCK_TAGS.values() for m in mids]
)

I18N_GLOBALS = frozenset({"_", "gettext", "ngettext", "pgettext", "npgettext"})

# Hugging Face transformers' apply_chat_template context (plus its template globals).
CHAT_GLOBALS: frozenset[str] = frozenset(
    {
        "messages",
        "tools",
        "documents",
        "add_generation_prompt",
        "continue_final_message",
        "raise_exception",
        "strftime_now",
        "bos_token",
        "eos_token",
        "unk_token",
        "pad_token",
        "sep_token",
        "cls_token",
        "mask_token",
        "additional_special_tokens",
    }
)

# Names popular Jinja hosts put in the context (Flask, Django, Ansible, Salt, dbt, Home
# Assistant, MkDocs, cookiecutter). Never reported as undefined anyway in generic templates;
# listed so a misspelling of one ("get_flashed_mesages") is recognised as a typo.
FRAMEWORK_NAMES: frozenset[str] = frozenset(
    [
        "url_for",
        "get_flashed_messages",
        "request",
        "session",
        "config",
        "current_user",
        "csrf_token",
        "form",
        "csrf_input",
        "static",
        "url",
        "user",
        "perms",
        "messages",
        "item",
        "ansible_facts",
        "hostvars",
        "groups",
        "group_names",
        "inventory_hostname",
        "inventory_hostname_short",
        "play_hosts",
        "ansible_hostname",
        "ansible_host",
        "lookup",
        "query",
        "omit",
        "role_path",
        "playbook_dir",
        "ansible_managed",
        "ansible_env",
        "ansible_distribution",
        "ansible_os_family",
        "ansible_default_ipv4",
        "salt",
        "grains",
        "pillar",
        "opts",
        "saltenv",
        "ref",
        "source",
        "var",
        "env_var",
        "this",
        "target",
        "adapter",
        "run_query",
        "is_incremental",
        "execute",
        "statement",
        "load_result",
        "graph",
        "states",
        "is_state",
        "state_attr",
        "as_timestamp",
        "utcnow",
        "trigger",
        "page",
        "nav",
        "base_url",
        "cookiecutter",
    ]
)

# Attribute names the sandbox refuses (beyond any name starting with "_").
UNSAFE_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "func_closure",
        "func_defaults",
        "func_dict",
        "im_class",
        "im_func",
        "im_self",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "co_code",
    }
)
# The stepping stones of known SSTI payloads: an error in any template, sandboxed or not.
ESCAPE_ATTRIBUTES: frozenset[str] = UNSAFE_ATTRIBUTES | frozenset(
    {
        "__globals__",
        "__subclasses__",
        "__mro__",
        "__base__",
        "__bases__",
        "__builtins__",
        "__import__",
        "__code__",
        "__closure__",
        "__func__",
        "__self__",
        "__init__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__loader__",
        "__spec__",
        "_TemplateReference__context",
    }
)
FORMAT_METHODS = frozenset({"format", "format_map"})
# Methods the immutable sandbox (prompt and chat templates) refuses on lists/dicts/sets.
MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "popitem",
        "remove",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)

TAG_DOCS: dict[str, str] = {
    "for": "`{% for item in seq %}...{% else %}...{% endfor %}`: a loop; "
    "`loop.index`, `loop.first`, `loop.last` inside.",
    "if": "`{% if cond %}...{% elif other %}...{% else %}...{% endif %}`",
    "block": "`{% block name %}...{% endblock %}`: a block child templates override.",
    "macro": "`{% macro name(arg, opt=1) %}...{% endmacro %}`: a reusable function.",
    "call": "`{% call macro(args) %}...{% endcall %}`: pass a body to a macro as `caller()`.",
    "filter": "`{% filter upper %}...{% endfilter %}`: apply a filter to a block.",
    "with": "`{% with a = 1 %}...{% endwith %}`: an inner scope.",
    "set": "`{% set x = value %}` or `{% set x %}...{% endset %}`",
    "extends": "`{% extends 'base.jinja' %}`: inherit from a parent template.",
    "include": "`{% include 'part.jinja' [ignore missing] %}`: render another template here.",
    "import": "`{% import 'macros.jinja' as m %}`: macros as `m.name()`.",
    "from": "`{% from 'macros.jinja' import a, b as c %}`",
    "raw": "`{% raw %}...{% endraw %}`: output without template processing.",
    "autoescape": "`{% autoescape true %}...{% endautoescape %}`",
    "print": "`{% print expr %}`: output an expression.",
    "do": "`{% do expr %}` (jinja2.ext.do): evaluate without output.",
    "break": "`{% break %}` (jinja2.ext.loopcontrols): leave the loop.",
    "continue": "`{% continue %}` (jinja2.ext.loopcontrols): next iteration.",
    "trans": "`{% trans %}...{% endtrans %}` (jinja2.ext.i18n)",
    "generation": "`{% generation %}...{% endgeneration %}`: assistant tokens (transformers).",
}


@lru_cache(maxsize=512)
def filter_doc(name: str) -> str | None:
    func = jinja2.filters.FILTERS.get(name)
    return _doc(name, func, skip=("env", "environment", "context", "eval_ctx", "value", "s"))


@lru_cache(maxsize=512)
def test_doc(name: str) -> str | None:
    func = jinja2.tests.TESTS.get(name)
    return _doc(name, func, skip=("env", "environment", "context", "value"))


def _doc(name: str, func: object, skip: tuple[str, ...]) -> str | None:
    if func is None:
        return None
    try:
        params = list(inspect.signature(func).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        params = []
    shown = [p for p in params[1:] if p.name not in skip] if params else []
    args = ", ".join(_param(p) for p in shown)
    doc = inspect.cleandoc(getattr(func, "__doc__", None) or "")
    head = doc.split("\n\n", 1)[0].replace("\n", " ")
    return f"`{name}({args})`\n\n{head}" if args else f"`{name}`\n\n{head}"


def _param(p: inspect.Parameter) -> str:
    if p.kind is p.VAR_POSITIONAL:
        return f"*{p.name}"
    if p.kind is p.VAR_KEYWORD:
        return f"**{p.name}"
    if p.default is not p.empty:
        return f"{p.name}={p.default!r}"
    return p.name
