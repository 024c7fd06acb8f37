"""Contamination check: do our training/dev rows copy or mirror public test items?

Public test sets (MT-Bench, Vicuna-80, WizardLM test, HumanEval, ...) are for evaluation
only. Two signals, both computed on normalised words (lower case, letters and digits;
"step-by-step" = "step by step"):

- **copy**: a row shares an 8-word shingle with a test item (or contains a whole test item
  shorter than 8 words). Always a failure.
- **mirror**: a paraphrase ("Roll two dice: what's the probability the sum is at least 9?"
  vs "When rolling two dice, what is the probability ... at least 3?") shares few exact
  shingles, so rows are also compared by content-word stems: at least ``NEAR_MIN_SHARED``
  shared stems covering ``NEAR_MIN_COVER`` of the smaller side, or a shared run of four
  stems. Such pairs are candidates for a human to judge; a row judged unrelated goes into
  the reviewed list (keyed by the row's hash, so an edited row is judged again).
- **lead sentence**: a test item's first sentence (MBPP's one-line task, HumanEval's
  docstring opening, a word problem's first sentence) is kept as SHA-256 keys of its
  normalised words and of its sorted content stems without task boilerplate ("write",
  "function", "python", "given"). A row sentence with the same words is a copy ("remove all
  whitespaces from the given string using regex" is MBPP 451 whatever the row adds); one
  with the same content stems ("remove all whitespace from a string using regex") is a
  mirror candidate. Short items slip under 8-word shingles; this catches them.

Only hashes are stored (``data/public_tests/index.json``): the index can be committed even
for sets that may not be redistributed, and it never feeds training. Pure: no I/O except
``load_index``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp.overlap import SHINGLE_WORDS as SHINGLE
from tsr_lsp.overlap import words as plain_words

MIN_SHORT = 4  # test items of 4-7 words count as one shingle (shorter ones are too generic)
NEAR_RUN = 4
NEAR_MIN_SHARED = 5
NEAR_MIN_COVER = 0.6
INDEX_DIR = Path(__file__).parent / "data" / "public_tests"

_STOP_WORDS = """a an the and or but if then else of to in on at by for with from into onto
    over under
    about as is are was were be been being am do does did doing have has had having i me my
    we our you your he she it its they them their this that these those what which who whom
    whose when where why how all any both each few more most other some such no nor not only
    own same so than too very s t can will just should now would could may might must shall
    there here up down out off again further once also please let lets using use"""
_STOP = frozenset(_STOP_WORDS.split())
# Task boilerplate of coding benchmarks: carries no topic, so near-verbatim keys ignore it.
_BOILER_WORDS = "write function python program code script given find returns takes"
_BOILER = frozenset(word[:4] for word in _BOILER_WORDS.split())
MIN_KEY_STEMS = 3
_SENTENCE_END = re.compile(r"(?<=[.?!:;])\s+|\n+")


def words(text: str) -> list[str]:
    """Lower-cased letter/digit runs after Unicode folding (curly quotes, accents)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain_words(folded)


def stems(text: str) -> list[str]:
    """Content words cut to four characters: 'rolling' and 'roll', 'probability' and
    'probable' meet; stop words carry no topic and are dropped."""
    return [w[:4] for w in words(text) if w not in _STOP]


def _h(s: str) -> str:
    return hashlib.blake2b(s.encode(), digest_size=8).hexdigest()


def shingle_hashes(ws: Sequence[str], n: int = SHINGLE) -> set[str]:
    return {_h(" ".join(ws[i : i + n])) for i in range(len(ws) - n + 1)}


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def sentence_keys(sentence: str) -> tuple[str | None, str | None]:
    """(exact, near) SHA-256 keys of one sentence: its normalised words (4 or more), and its
    sorted distinct content stems without boilerplate (3 or more)."""
    ws = words(sentence)
    exact = _sha("w:" + " ".join(ws)) if len(ws) >= MIN_SHORT else None
    core = sorted({s for s in stems(sentence) if s not in _BOILER})
    near = _sha("k:" + " ".join(core)) if len(core) >= MIN_KEY_STEMS else None
    return exact, near


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:16]


@dataclass
class PublicSet:
    """One public test set as hashes: 8-word shingles, whole short items, stem sets."""

    name: str
    origin: str
    items: int
    shingles: set[str] = field(default_factory=set)
    short: dict[int, set[str]] = field(default_factory=dict)  # length -> whole-item hashes
    stem_sets: list[list[str]] = field(default_factory=list)  # per item: stem hashes
    stem_runs: set[str] = field(default_factory=set)
    lead_exact: set[str] = field(default_factory=set)  # sentence_keys of each lead sentence
    lead_near: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "items": self.items,
            "shingles": sorted(self.shingles),
            "short": {str(k): sorted(v) for k, v in sorted(self.short.items())},
            "stem_sets": self.stem_sets,
            "stem_runs": sorted(self.stem_runs),
            "lead_exact": sorted(self.lead_exact),
            "lead_near": sorted(self.lead_near),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PublicSet:
        return cls(
            d["name"],
            d["origin"],
            int(d["items"]),
            set(d["shingles"]),
            {int(k): set(v) for k, v in d["short"].items()},
            [list(s) for s in d["stem_sets"]],
            set(d["stem_runs"]),
            set(d.get("lead_exact", ())),
            set(d.get("lead_near", ())),
        )


def build_set(
    name: str, origin: str, texts: Iterable[str], leads: Iterable[str] | None = None
) -> PublicSet:
    """Hash a public set's items (their text is not kept). ``leads`` are the items' lead
    sentences when the first sentence of the text is not it (HumanEval: the docstring's)."""
    out = PublicSet(name, origin, 0)
    texts = list(texts)
    for lead in leads if leads is not None else (t for t in texts):
        first = sentences(lead)
        exact, near = sentence_keys(first[0]) if first else (None, None)
        if exact:
            out.lead_exact.add(exact)
        if near:
            out.lead_near.add(near)
    for text in texts:
        ws = words(text)
        if not ws:
            continue
        out.items += 1
        if len(ws) >= SHINGLE:
            out.shingles |= shingle_hashes(ws)
        elif len(ws) >= MIN_SHORT:
            out.short.setdefault(len(ws), set()).add(_h(" ".join(ws)))
        st = stems(text)
        out.stem_sets.append(sorted({_h(s)[:8] for s in st}))
        out.stem_runs |= shingle_hashes(st, NEAR_RUN)
    return out


@dataclass
class Hit:
    kind: str  # "copy" or "mirror"
    public: str  # the public set's name
    detail: str


def check_text(text: str, sets: Sequence[PublicSet]) -> list[Hit]:
    """Copies and mirror candidates of one row against every public set."""
    ws = words(text)
    own = shingle_hashes(ws)
    st = stems(text)
    own_stems = {_h(s)[:8] for s in st}
    own_runs = shingle_hashes(st, NEAR_RUN)
    keys = [sentence_keys(s) for s in sentences(text)]
    exacts = {e for e, _ in keys if e}
    nears = {n for _, n in keys if n}
    hits: list[Hit] = []
    for ps in sets:
        if exacts & ps.lead_exact:
            hits.append(Hit("copy", ps.name, "a sentence is a test item's lead sentence"))
            continue
        shared = len(own & ps.shingles)
        for k, hashes in ps.short.items():
            shared += len(shingle_hashes(ws, k) & hashes)
        if shared:
            hits.append(Hit("copy", ps.name, f"{shared} shared {SHINGLE}-word shingles"))
            continue
        if nears & ps.lead_near:
            hits.append(Hit("mirror", ps.name, "a sentence has a test item's lead content words"))
            continue
        runs = len(own_runs & ps.stem_runs)
        best, where = 0.0, -1
        for i, item in enumerate(ps.stem_sets):
            common = len(own_stems.intersection(item))
            if common >= NEAR_MIN_SHARED:
                cover = common / max(1, min(len(own_stems), len(item)))
                if cover > best:
                    best, where = cover, i
        if runs or best >= NEAR_MIN_COVER:
            which = f" (item {where + 1})" if where >= 0 else ""
            hits.append(
                Hit("mirror", ps.name, f"{runs} shared stem runs, stem cover {best:.2f}{which}")
            )
    return hits


def row_key(text: str) -> str:
    """How the reviewed list names a row: a hash of its text (edits need a new review)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_index(directory: Path = INDEX_DIR) -> tuple[list[PublicSet], dict[str, str]]:
    """The committed public-set hashes and the reviewed mirror candidates (key -> note)."""
    data = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    sets = [PublicSet.from_json(d) for d in data["sets"]]
    reviewed: dict[str, str] = {}
    path = directory / "reviewed.tsv"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, note = line.partition("\t")
                reviewed[key.strip()] = note.strip()
    return sets, reviewed


def save_index(sets: Sequence[PublicSet], directory: Path = INDEX_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.json"
    blob = {"format": 1, "shingle": SHINGLE, "sets": [s.to_json() for s in sets]}
    path.write_text(json.dumps(blob, sort_keys=True, separators=(",", ":")) + "\n")
    return path


@dataclass
class Finding:
    where: str  # file:line
    text: str
    hit: Hit
    key: str


def scan_rows(
    rows: Iterable[tuple[str, str]], sets: Sequence[PublicSet], reviewed: dict[str, str]
) -> list[Finding]:
    """Every copy, and every mirror candidate not yet judged unrelated, of (where, text)
    rows. An empty list means the rows are clean."""
    out: list[Finding] = []
    for where, text in rows:
        key = row_key(text)
        for hit in check_text(text, sets):
            if hit.kind == "mirror" and key in reviewed:
                continue
            out.append(Finding(where, text, hit, key))
    return out


def jsonl_rows(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(file:line, text) of every JSONL row with a 'text' field."""
    rows: list[tuple[str, str]] = []
    for path in paths:
        # split on newlines only: str.splitlines() also breaks at U+2028 inside a JSON string
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, 1):
            if line.strip():
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    rows.append((f"{Path(path).name}:{number}", text))
    return rows


def shipped_files() -> list[Path]:
    """What the router trains and is developed on: team prompts and the development set."""
    data = Path(__file__).parent / "data"
    return [*sorted(data.glob("*.jsonl")), *sorted((data / "dev").glob("*.jsonl"))]
