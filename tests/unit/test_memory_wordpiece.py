"""The plain-Python WordPiece gives the ids `tokenizers` gives, and the static encoder ships
with its table (the default install has neither torch nor `tokenizers`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from tsr_lsp.memory.static import HEAD, SHIPPED, StaticEncoder, encoder_dir, head_id, table_ready
from tsr_lsp.memory.wordpiece import WordPiece

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = SHIPPED / "tokenizer.json"
EDGES = [
    "Héllo wörld naïve café ÅNGSTRÖM",
    "日本語のテキスト 中文字符 한국어 ไทย",
    "emoji 😀👍🏽 ok",
    "ctrl\x00\x07chars\u200b zero\ufeffwidth \ufffdreplacement",
    "[CLS] hello [SEP] x[MASK]y [PAD][UNK]",
    "a" * 150 + " " + "ab" * 60,
    "İstanbul ΣΟΦΊΑ straße ﬁne Ⅻ",
    "tabs\tand\nnewlines\r\n\u2028sep\u00a0nbsp\u3000ideographic",
    "path/to/file.py:12 foo_bar(baz)->qux {{ x|upper }} <a href='y'>",
    "€100 £5 ¥3 — “quotes” «guillemets» … ‰ ¶",
    "x\u0301\u0300y combining",
    "",
    "   ",
]


def corpus() -> list[str]:
    texts = list(EDGES)
    for path in sorted((REPO / "tsr_lsp" / "router" / "data").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if isinstance(row.get("text"), str):
                texts.append(row["text"])
    for path in sorted((REPO / "templates").glob("*")):
        texts.append(path.read_text(encoding="utf-8"))
    return texts


def reference() -> Tokenizer:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_padding()
    tok.no_truncation()
    return tok


def test_same_ids_as_tokenizers() -> None:
    ref = reference()
    mine = WordPiece(TOKENIZER)
    texts = corpus()
    assert len(texts) > 2000
    for text in texts:
        assert mine.encode(text) == ref.encode(text, add_special_tokens=False).ids, text


def test_the_encoder_ships_ready_and_matches_the_head() -> None:
    assert table_ready(SHIPPED), "the shipped table was built with another head: rebuild it"
    assert encoder_dir() == SHIPPED
    meta = json.loads((SHIPPED / "meta.json").read_text())
    assert meta["head"] == head_id() and HEAD.is_file()
    enc = StaticEncoder(SHIPPED)
    assert enc.table.shape == (30522, meta["dim"])


def test_the_encoder_imports_no_tokenizers_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tsr_lsp.memory.static import StaticEncoder, SHIPPED\n"
        "StaticEncoder(SHIPPED).embed(['csv parser'])\n"
        "bad = [m for m in ('tokenizers', 'torch', 'transformers') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("word", ["unaffable", "naïve", "x" * 101, "[MASK]"])
def test_single_words(word: str) -> None:
    expected = reference().encode(word, add_special_tokens=False).ids
    assert WordPiece(TOKENIZER).encode(word) == expected
