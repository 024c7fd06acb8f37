"""BERT's WordPiece tokenizer as a ``tokenizer.json`` (BertNormalizer, BertPreTokenizer,
WordPiece) describes it, in plain Python: the static encoder's only tokenizer, so the
default install needs neither ``tokenizers`` nor the Hugging Face hub client it pulls in
(46 MB). tests/unit/test_memory_wordpiece.py checks it id for id against ``tokenizers``.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from pathlib import Path

_ASCII_PUNCT = frozenset(string.punctuation)


def _is_chinese(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


class WordPiece:
    def __init__(self, path: Path) -> None:
        spec = json.loads(path.read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "WordPiece":
            raise ValueError(f"{path}: not a WordPiece tokenizer")
        norm = spec.get("normalizer") or {}
        self.lowercase = bool(norm.get("lowercase", True))
        strip = norm.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        self.chinese = bool(norm.get("handle_chinese_chars", True))
        self.vocab: dict[str, int] = model["vocab"]
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = int(model.get("max_input_chars_per_word", 100))
        added = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
        self.added = added
        self._added_re = (
            re.compile("|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)))
            if added
            else None
        )

    def encode(self, text: str) -> list[int]:
        """Token ids without special tokens (``add_special_tokens=False``)."""
        if self._added_re is None:
            return self._encode_plain(text)
        ids: list[int] = []
        last = 0
        for m in self._added_re.finditer(text):
            ids += self._encode_plain(text[last : m.start()])
            ids.append(self.added[m.group()])
            last = m.end()
        return ids + self._encode_plain(text[last:])

    def _encode_plain(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self._pre_tokenize(self._normalize(text)):
            ids += self._wordpiece(word)
        return ids

    def _normalize(self, text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if ch in "\t\n\r":
                out.append(" ")
            elif cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
                continue
            elif ch.isspace():
                out.append(" ")
            elif self.chinese and _is_chinese(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = "".join(out)
        if self.strip_accents:
            text = "".join(
                c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
            )
        return text.lower() if self.lowercase else text

    @staticmethod
    def _pre_tokenize(text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            start = 0
            for i, ch in enumerate(chunk):
                if _is_punct(ch):
                    if i > start:
                        words.append(chunk[start:i])
                    words.append(ch)
                    start = i + 1
            if start < len(chunk):
                words.append(chunk[start:])
        return words

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        vocab = self.vocab
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                found = vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids
