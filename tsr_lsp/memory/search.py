"""Reading the store: search (analysed query -> Tantivy candidates (+ nearest vectors) ->
hybrid rerank, retrieval.py) and listing (get, recent, count, iter_all). A mixin of
EpisodeStore, kept apart so each file stays readable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.maintenance import PATTERN_KIND
from tsr_lsp.memory.retrieval import (
    DEFAULT_CONFIG,
    Candidate,
    RetrievalConfig,
    feedback_terms,
    plan_query,
    rerank,
    strip_speakers,
)
from tsr_lsp.memory.schema import KIND_NAMES, h52
from tsr_lsp.memory.validate import parse_payload, read_payload

if TYPE_CHECKING:
    import threading

    from tsr_lsp.memory.embed import DenseIndex

T = TypeVar("T")


@dataclass
class Hit:
    episode: Episode
    score: float


class StoreSearch:
    schema: Any
    dense: DenseIndex | None
    _lock: threading.RLock
    _generation: int

    if TYPE_CHECKING:  # provided by EpisodeStore

        def searcher(self) -> Any: ...
        def _poll_encoder(self) -> None: ...
        def analyze(self, text: str) -> list[str]: ...
        def _read(self, what: str, fn: Callable[[], T]) -> T: ...

    # ------------------------------------------------------------------ search
    def _is_speaker(self, searcher: Any) -> Any:
        def check(term: str) -> bool:
            try:
                return bool(searcher.doc_freq("speaker_name", term))
            except ValueError:
                return False

        return check

    def _filters(self, project: str | None, kinds: Sequence[str] | None) -> list[Any]:
        import tantivy

        out = []
        if project is not None:
            out.append(
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "project", project))
            )
        if kinds:
            q = tantivy.Query.term_set_query(self.schema, "kind", list(kinds))
            out.append((tantivy.Occur.Must, q))
        return out

    def _text_query(
        self,
        terms: dict[str, float],
        config: RetrievalConfig,
        extra: dict[str, float] | None = None,
    ) -> Any:
        """Each term in every boosted field; feedback terms (``extra``) in the fields listed
        in `RetrievalConfig.prf_fields` only (elsewhere their weight would be negligible, and
        their postings are what a search at scale spends its time on)."""
        import tantivy

        should = []
        weighted = [(t, w, config.field_boosts) for t, w in terms.items()]
        prf_boosts = {f: b for f, b in config.field_boosts.items() if f in config.prf_fields}
        weighted += [(t, w, prf_boosts) for t, w in (extra or {}).items()]
        for term, weight, boosts in weighted:
            for name, boost in boosts.items():
                if boost > 0:
                    q = tantivy.Query.term_query(self.schema, name, term)
                    should.append(
                        (tantivy.Occur.Should, tantivy.Query.boost_query(q, weight * boost))
                    )
        return tantivy.Query.boolean_query(should)

    def search(
        self,
        query: str,
        project: str | None = None,
        k: int = 10,
        kinds: Sequence[str] | None = None,
        config: RetrievalConfig = DEFAULT_CONFIG,
    ) -> list[Hit]:
        """The k best episodes for ``query`` (any raw user text), filtered by project;
        guarded like every read (recovery.py)."""
        return self._read("searching", lambda: self._search(query, project, k, kinds, config))

    def _search(
        self, query: str, project: str | None, k: int, kinds: Any, config: RetrievalConfig
    ) -> list[Hit]:
        import tantivy

        self._poll_encoder()
        with self._lock:
            searcher = self.searcher()
        plan = plan_query(query, self.analyze, self._is_speaker(searcher), config)
        if not plan.terms:
            return []
        filters = self._filters(project, kinds)
        pool = max(k, config.candidates)
        text_q = self._text_query(plan.terms, config)
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, text_q), *filters])
        # with feedback, the first search only has to find the feedback documents
        hits = searcher.search(q, config.prf_docs or pool).hits
        if config.prf_docs and hits:
            docs = []
            for score, addr in hits[: config.prf_docs]:
                payload = parse_payload(searcher.doc(addr)["payload"][0])
                docs.append((score, self.analyze(payload.get("text", ""))))
            extra = feedback_terms(docs, plan, config)
            if extra:
                text_q = self._text_query(plan.terms, config, extra)
                q = tantivy.Query.boolean_query([(tantivy.Occur.Must, text_q), *filters])
            hits = searcher.search(q, pool).hits
        qv = None
        if self.dense is not None and config.dense_weight:
            qv = self.dense.query_vector(
                strip_speakers(query, self._is_speaker(searcher), self.analyze)
            )
        # nearest vectors that are not lexical candidates: always `dense_candidates` of
        # them, and enough to fill k when few episodes share a word with the query
        wanted = max(config.dense_candidates, k - len(hits))
        if qv is not None and wanted > 0 and project is not None and self.dense is not None:
            hits = hits + self._dense_only(searcher, qv, hits, filters, project, wanted)
        if not hits:
            return []
        addrs = [addr for _s, addr in hits]
        columns = {
            name: searcher.fast_field_values(name, addrs)
            for name in ("thread", "seq", "speaker", "ts", "kind_code", "id_h")
        }
        dense: list[float | None] = [None] * len(hits)
        if qv is not None and self.dense is not None:
            dense = self.dense.similarities(qv, [int(v or 0) for v in columns["id_h"]])
        cands = [
            Candidate(
                key=i,
                score=score,
                thread=int(columns["thread"][i] or 0),
                seq=int(columns["seq"][i] or 0),
                speaker=int(columns["speaker"][i] or 0),
                ts_ms=int(columns["ts"][i] or 0),
                kind=KIND_NAMES.get(int(columns["kind_code"][i] or 0), ""),
                dense=dense[i],
            )
            for i, (score, _addr) in enumerate(hits)
        ]
        ranked = rerank(cands, plan, h52, int(time.time() * 1000), config)
        out = []
        for score, cand in ranked[:k]:
            out.append(Hit(read_payload(searcher.doc(addrs[cand.key])["payload"][0]), score))
        return out

    def _dense_only(
        self, searcher: Any, qv: Any, hits: list[Any], filters: list[Any], project: str, n: int
    ) -> list[tuple[float, Any]]:
        """Episodes close to the query in meaning that share no word with it: the nearest
        vectors of the project, minus the lexical candidates (lexical score 0)."""
        import tantivy

        assert self.dense is not None
        have = set(searcher.fast_field_values("id_h", [a for _s, a in hits])) if hits else set()
        near = self.dense.vectors.nearest(qv, h52(project), n + len(have))
        near = [k for k in near if k not in have][:n]
        if not near:
            return []
        q = tantivy.Query.term_set_query(self.schema, "id_h", near)
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, q), *filters])
        return [(0.0, addr) for _s, addr in searcher.search(q, len(near)).hits]

    # ------------------------------------------------------------------ reading
    def _episodes(self, q: Any, limit: int, order_by_ts: bool = False) -> list[Episode]:
        def read() -> list[Episode]:
            searcher = self.searcher()
            kwargs: dict[str, Any] = {"order_by_field": "ts"} if order_by_ts else {}
            hits = searcher.search(q, limit, **kwargs).hits
            return [read_payload(searcher.doc(a)["payload"][0]) for _s, a in hits]

        return self._read("reading episodes", read)

    def _query(
        self, project: str | None = None, kinds: Sequence[str] | None = None, outcome: bool = False
    ) -> Any:
        import tantivy

        parts = self._filters(project, kinds)
        if outcome:
            from tsr_lsp.memory.api import OUTCOMES

            q = tantivy.Query.term_set_query(self.schema, "outcome", list(OUTCOMES))
            parts.append((tantivy.Occur.Must, q))
        if not parts:
            return tantivy.Query.all_query()
        return tantivy.Query.boolean_query(parts)

    def get(self, episode_id: str) -> Episode | None:
        import tantivy

        found = self._episodes(tantivy.Query.term_query(self.schema, "id", episode_id), 1)
        return found[0] if found else None

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (imports skip them)."""
        import tantivy

        found: set[str] = set()
        for i in range(0, len(ids), 1024):
            chunk = list(ids[i : i + 1024])

            def read(chunk: list[str] = chunk) -> set[str]:
                searcher = self.searcher()
                q = tantivy.Query.term_set_query(self.schema, "id", chunk)
                hits = searcher.search(q, len(chunk)).hits
                return {searcher.doc(addr)["id"][0] for _s, addr in hits}

            found |= self._read("looking up ids", read)
        return found

    def recent(
        self,
        project: str | None = None,
        limit: int = 50,
        kinds: Sequence[str] | None = None,
        with_outcome: bool = False,
    ) -> list[Episode]:
        """Newest first."""
        return self._episodes(self._query(project, kinds, with_outcome), limit, order_by_ts=True)

    def count(self, project: str | None = None, kinds: Sequence[str] | None = None) -> int:
        q = self._query(project, kinds)
        return self._read(
            "counting episodes", lambda: int(self.searcher().search(q, 1, count=True).count)
        )

    def iter_all(self, project: str | None = None, batch: int = 5000) -> Iterator[Episode]:
        q = self._query(project)
        searcher = self._read("listing episodes", self.searcher)
        total = self._read("listing episodes", lambda: searcher.search(q, 1, count=True).count)
        for offset in range(0, total, batch):

            def page(offset: int = offset) -> list[Episode]:
                hits = searcher.search(q, batch, offset=offset, order_by_field="ts").hits
                return [read_payload(searcher.doc(addr)["payload"][0]) for _s, addr in hits]

            yield from self._read("listing episodes", page)

    def projects(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ep in self.iter_all():
            if ep.kind != PATTERN_KIND:
                counts[ep.project] = counts.get(ep.project, 0) + 1
        return counts
