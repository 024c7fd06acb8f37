"""Schema version 1 of the memory index (docs/MEMORY.md), the analyser and key hashing."""

from __future__ import annotations

import hashlib
from typing import Any

from tsr_lsp.memory.maintenance import PATTERN_KIND, TOKENIZER
from tsr_lsp.memory.retrieval import STOPWORDS

TEXT_FIELDS = ("text", "ctx_prev", "ctx_next", "response", "when")
KIND_CODES = {
    "interaction": 1,
    "fact": 2,
    "decision": 3,
    "turn": 4,
    PATTERN_KIND: 5,
    "completion": 6,
}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}


def h52(value: str) -> int:
    """A stable 52-bit hash (fits a float exactly; Tantivy's Python ints must stay small)."""
    if not value:
        return 0
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") >> 12


def build_schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_integer_field("id_h", fast=True, indexed=True)  # h52(id): key of its vector
    sb.add_text_field("project", fast=True, tokenizer_name="raw")
    sb.add_text_field("kind", tokenizer_name="raw")
    sb.add_text_field("outcome", tokenizer_name="raw")
    sb.add_integer_field("kind_code", fast=True)
    sb.add_integer_field("thread", fast=True, indexed=True)
    sb.add_integer_field("seq", fast=True)
    sb.add_integer_field("speaker", fast=True)
    sb.add_integer_field("ts", fast=True, indexed=True)
    sb.add_text_field("speaker_name", tokenizer_name=TOKENIZER)
    for name in TEXT_FIELDS:
        # contexts are stored so a neighbour can be re-indexed without refetching its thread
        sb.add_text_field(name, stored=name.startswith("ctx_"), tokenizer_name=TOKENIZER)
    sb.add_bytes_field("payload", stored=True, indexed=False)
    return sb.build()


def make_analyzer(stem: bool = True, stopwords: bool = True) -> Any:
    import tantivy

    b = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
    b = b.filter(tantivy.Filter.remove_long(40))
    if stopwords:
        b = b.filter(tantivy.Filter.custom_stopword(sorted(STOPWORDS)))
    if stem:
        b = b.filter(tantivy.Filter.stemmer("english"))
    return b.build()
