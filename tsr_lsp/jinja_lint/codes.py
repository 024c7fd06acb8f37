"""Stable diagnostic codes (documented with examples and fixes in docs/LINT.md).

Codes never change meaning; new checks get new codes.
"""

from __future__ import annotations

CODES: dict[str, tuple[str, str]] = {
    # code: (slug, summary)
    "JL001": ("syntax-error", "the tag or expression is not valid Jinja"),
    "JL002": ("unclosed-tag", "a '{{', '{%' or '{#' has no matching end delimiter"),
    "JL003": ("unclosed-block", "a block tag (if, for, macro, ...) is never closed"),
    "JL004": ("mismatched-end", "an end tag closes a different block than the open one"),
    "JL005": ("orphan-tag", "an end/else/elif tag with no open block to belong to"),
    "JL006": ("unknown-tag", "a tag Jinja does not know (typo or unconfigured extension)"),
    "JL007": ("duplicate-block", "two blocks with the same name"),
    "JL008": ("misplaced-tag", "a tag used where it is not allowed (break outside a loop, ...)"),
    "JL010": ("undefined-variable", "a name that is neither declared, assigned nor global"),
    "JL011": ("unused-input", "a variable declared in the front matter is never used"),
    "JL012": ("unused-variable", "a 'set' variable is never used"),
    "JL013": ("unused-macro", "a macro is never called"),
    "JL014": ("unused-import", "an imported template or name is never used"),
    "JL020": ("unknown-filter", "a filter the environment does not define"),
    "JL021": ("unknown-test", "a test the environment does not define"),
    "JL030": ("macro-arity", "a macro called with arguments it does not accept"),
    "JL040": ("missing-template", "an include/import/extends target that does not exist"),
    "JL041": ("missing-import-name", "'from x import y' where x defines no y"),
    "JL050": ("unsafe-attribute", "attribute access the sandbox refuses (SSTI pattern)"),
    "JL051": ("unsafe-format", "str.format / format_map on a template-controlled string"),
    "JL052": ("excessive-loop", "a range or nested loops beyond the sandbox's bounds"),
    "JL053": ("immutable-mutation", "mutating a list/dict, refused by the immutable sandbox"),
    "JL054": (
        "resource-attack",
        "work or memory the sandbox stops: repetition, padding, doubling, runaway recursion",
    ),
    "JL055": ("include-outside", "an include/import/extends target outside the template folders"),
    "JL060": ("front-matter-syntax", "the front matter (TOML) or JSON form does not parse"),
    "JL061": ("front-matter-schema", "the front matter parses but has wrong keys or types"),
}

# What the sandbox blocks: escape attempts and resource attacks (bench reliability counts them)
SECURITY_CODES = frozenset({"JL050", "JL051", "JL052", "JL053", "JL054", "JL055"})


def selected(code: str, select: list[str], ignore: list[str]) -> bool:
    """Prefix matching like ruff: ``JL0`` selects every JL0xx code."""
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(s) for s in ignore)


def validate_codes(items: list[str]) -> list[str]:
    """Entries of --select/--ignore that match no code (to report them)."""
    return [s for s in items if not any(c.startswith(s) for c in CODES)]
