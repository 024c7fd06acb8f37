"""Inline completion (`textDocument/inlineCompletion`, docs/PROTOCOL.md, docs/COMPLETION.md).

Thin: the pure package (tsr_lsp.completion) decides what to ask and cleans the answer; this
feature keeps the per-connection state (running request per document, suggestion cache,
ring of chunks) and answers requests. Its two base classes hold the rest: model runs in the
pool's inline lane (its own model instance and KV cache, with priority over chat;
server/inline_run.py) and the suggestions' outcomes (server/inline_outcomes.py).

Latency machinery: latest wins per document (a newer request stops the older generation at
its next token and the older reply is sent at once, empty), a short debounce, a generation
budget (``completion.max_ms``), type-through answers from the cache, and prewarming of the
KV cache in the background (a file's first window on open; the cursor's window on the
optional ``tsr/inline/didFocus`` hint).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import to_fs_path

from tsr_lsp.backends.base import GenerationCancelled
from tsr_lsp.backends.pool import INLINE
from tsr_lsp.completion.cache import Entry, Key, SuggestionCache, make_key
from tsr_lsp.completion.chunks import ChunkRing, pick
from tsr_lsp.completion.context import (
    Cursor,
    FimPrompt,
    after_accept,
    build_prompt,
    file_prompt,
    locate,
    skip_reason,
    wants_multiline,
)
from tsr_lsp.completion.postprocess import Cleaned
from tsr_lsp.config import CompletionSettings
from tsr_lsp.router.decision import Decision, RouteRequest
from tsr_lsp.server.feature import NOT_MINE, CancelToken, notification
from tsr_lsp.server.inline_outcomes import ACCEPTED, InlineOutcomes, Tuning
from tsr_lsp.server.inline_run import InlineRuns, Job

EMPTY_ITEMS: list[types.InlineCompletionItem] = []
MAX_ITEMS = 3  # when Invoked
FOCUS_DELAY_S = 0.25  # a didFocus hint waits this long for the cursor to settle
# a speculative completion starts this long after its suggestion was shown, if no request
# came since: a user still typing would only stop it again (each stop costs a prompt chunk)
SPECULATE_AFTER_S = 0.25
TEMPLATE_LANGUAGES = frozenset({"jinja", "jinja2", "jinja-html", "jinja-md", "j2", "jinja-xml"})


# ---------------------------------------------------------------------- params
@dataclass
class TextDocument:
    uri: str


@dataclass
class Position:
    line: int
    character: int


@dataclass
class FocusParams:
    text_document: TextDocument
    position: Position


@dataclass
class Speculation:
    """The completion being computed for the line after the shown one (as if accepted)."""

    uri: str
    lines: range  # the shown suggestion's line and the line after it
    key: Key
    stop: threading.Event
    writing: threading.Event  # its prompt is evaluated: the answer is a line away
    task: asyncio.Future[None]

    def near(self, uri: str, position: Position | None) -> bool:
        """Is a cursor there still reading the suggestion (a focus hint while it is shown
        must not stop the line after it)?"""
        return uri == self.uri and position is not None and position.line in self.lines


class InlineCompletion(InlineRuns, InlineOutcomes):
    name = "completion"
    options = {types.TEXT_DOCUMENT_INLINE_COMPLETION: types.InlineCompletionOptions()}

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.jobs: dict[str, Job] = {}
        self.cache = SuggestionCache()
        self.ring = ChunkRing()
        self.languages: dict[str, str] = {}  # uri -> languageId
        self.decision: Decision | None = None
        self.prewarm: threading.Event | None = None
        self.focus_timer: asyncio.TimerHandle | None = None
        self.speculation: Speculation | None = None

    # ------------------------------------------------------------------ settings
    @property
    def conf(self) -> CompletionSettings:
        return self.settings.completion

    def configuration_changed(self, settings: Any) -> None:
        self.decision = None
        self.tuning = None

    def _route(self, language: str) -> Decision:
        """kind=inline_completion through the Engine's routing: the cheapest FIM profile,
        CoT 0. The decision does not depend on the text, so it is kept until settings
        change or a model fails."""
        if self.decision is None:
            req = RouteRequest(
                "inline completion", "inline_completion", language, "", self.project()
            )
            self.decision = self.engine.route(req, self.settings)
            self.log.info("%s", self.decision.explanation)
        return self.decision

    # ------------------------------------------------------------------ documents
    def _is_template(self, uri: str) -> bool:
        path = to_fs_path(uri) or uri
        lint = self.settings.lint
        return self.languages.get(uri, "") in TEMPLATE_LANGUAGES or (
            lint.enabled and path.endswith(tuple(lint.extensions))
        )

    def _rel_path(self, uri: str) -> str:
        path = to_fs_path(uri) or uri
        if self.root is not None:
            try:
                return str(Path(path).relative_to(self.root))
            except ValueError:
                pass
        return Path(path).name or path

    def _usable(self, uri: str, text: str) -> bool:
        return (
            self.conf.enabled
            and not self._is_template(uri)
            and len(text) <= self.conf.max_file_kb * 1024
            and "\x00" not in text[:8192]
        )

    def document_open(self, params: Any) -> None:
        doc = params.text_document
        self.languages[doc.uri] = doc.language_id
        if not self._usable(doc.uri, doc.text):
            return
        if self.conf.extra_context:  # the ring only feeds prompts with that setting
            self.ring.add(self._rel_path(doc.uri), pick(doc.text.split("\n"), 0))
        if self.conf.prefetch_on_open:
            self._prewarm(doc.uri, None)

    def document_change(self, params: Any) -> None:
        """Edited lines join the ring of chunks, when prompts use it (``extraContext``):
        otherwise every keystroke would split the whole document for nothing (8 ms at
        2 MB on the event loop)."""
        if not self.conf.extra_context:
            return
        uri = params.text_document.uri
        changes = params.content_changes or []
        line = next((c.range.start.line for c in changes if getattr(c, "range", None)), None)
        if line is None:
            return
        doc = self.server.workspace.get_text_document(uri)
        if self._usable(uri, doc.source):
            self.ring.add(self._rel_path(uri), pick(doc.source.split("\n"), line))

    def document_close(self, params: Any) -> None:
        uri = params.text_document.uri
        job = self.jobs.pop(uri, None)
        if job is not None:
            job.supersede()
        self.languages.pop(uri, None)
        if self.speculation is not None and self.speculation.uri == uri:
            self.speculation.stop.set()

    def shutdown(self, params: Any) -> None:
        for job in list(self.jobs.values()):
            job.supersede()
        if self.prewarm is not None:
            self.prewarm.set()
        if self.speculation is not None:
            self.speculation.stop.set()

    # ------------------------------------------------------------------ prompts
    def _prompt(self, uri: str, cur: Cursor | None, source: str) -> FimPrompt:
        """The prompt at ``cur`` (which holds the lines it needs), or with no cursor the
        file's first window: only then is the whole ``source`` split into lines."""
        conf = self.conf
        path = self._rel_path(uri)
        chunks = self.ring.for_file(path) if conf.extra_context else []
        common: dict[str, Any] = {
            "path": path,
            "repo": self.root.name if self.root else "",
            "chunks": chunks,
            "chunk_tokens": conf.chunk_tokens if conf.extra_context else 0,
        }
        if cur is None:
            return file_prompt(source.split("\n"), prefix_tokens=conf.file_prewarm_tokens, **common)
        return build_prompt(
            cur,
            prefix_tokens=conf.prefix_tokens,
            suffix_tokens=conf.suffix_tokens,
            heal=conf.heal,
            definition_suffix=conf.definition_suffix,
            **common,
        )

    # ------------------------------------------------------------------ prewarm
    def _prewarm(self, uri: str, position: Position | None) -> None:
        """Evaluate a prompt into the inline lane's KV cache in the background (stopped by
        any completion): the file's first window, or the window at ``position``. Only
        documents the client has open: pygls would read any other URI from disk, on the
        event loop, whatever its size (a document the server refused is not open)."""
        if unquote(uri) not in self.server.workspace.text_documents:
            return
        doc = self.server.workspace.get_text_document(uri)
        text = doc.source
        if not self._usable(uri, text):
            return
        cur = None
        if position is not None:
            cur = _cursor(doc, text, position)
            if cur is None:
                return
        prompt = self._prompt(uri, cur, text)
        if self.prewarm is not None:
            self.prewarm.set()
        spec = self.speculation
        if spec is not None and not spec.near(uri, position):  # the user went elsewhere
            spec.stop.set()
        stop = threading.Event()
        self.prewarm = stop
        self.server.thread_pool.submit(self._prefill, self.languages.get(uri, ""), prompt, stop)

    def _prefill(self, language: str, prompt: FimPrompt, stop: threading.Event) -> None:
        try:
            decision = self._route(language)
            if decision.fallback:
                return
            req = self._request(prompt, max_tokens=0)
            result = self.engine.pool.prefill(
                decision.model,
                req,
                cancel=stop,
                profile=self._lane_profile(decision.model),
                lane=INLINE,
                background=True,
            )
            self.log.debug(
                "prewarmed %d tokens (%d evaluated) in %.2fs",
                result.prompt_tokens,
                result.evaluated_tokens,
                result.total_s,
            )
        except GenerationCancelled:
            pass
        except Exception as exc:  # a prewarm is an optimisation: log, never report
            self.log.info("prewarm skipped: %s", exc)

    @notification("tsr/inline/didFocus", FocusParams)
    def did_focus(self, params: FocusParams) -> None:
        """Optional hint: the cursor rests at ``position`` (editors send it on entering
        insert mode or when idle); its window is evaluated before the first request."""
        if self.focus_timer is not None:
            self.focus_timer.cancel()
        loop = asyncio.get_running_loop()
        self.focus_timer = loop.call_later(
            FOCUS_DELAY_S, self._prewarm, params.text_document.uri, params.position
        )

    # ------------------------------------------------------------------ completion
    async def inline_completion(self, params: Any, token: CancelToken) -> Any:
        uri = params.text_document.uri
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        if unquote(uri) not in self.server.workspace.text_documents:
            return NOT_MINE  # only documents the client opened (their text is current)
        doc = self.server.workspace.get_text_document(uri)
        text = doc.source
        if not self._usable(uri, text):
            return self._empty("document not served (template, too large, binary or disabled)")
        cur = _cursor(doc, text, params.position)
        if cur is None:
            return self._empty("position past the end")
        reason = skip_reason(cur, invoked)
        if reason:
            return self._empty(reason)
        old = self.jobs.get(uri)
        if old is not None:
            old.supersede()
        superseded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job = Job(uri, superseded, token)
        self.jobs[uri] = job
        serve = asyncio.ensure_future(self._serve(job, doc, cur, params.position, invoked))
        waiting: list[asyncio.Future[Any]] = [serve, superseded]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # $/cancelRequest
            job.stop.set()
            serve.cancel()
            raise
        finally:
            if self.jobs.get(uri) is job:
                del self.jobs[uri]
        if not serve.done():  # superseded: answer now; the generation stops at its next token
            serve.cancel()
            return self._empty("superseded")
        return serve.result()

    async def _serve(
        self,
        job: Job,
        doc: Any,
        cur: Cursor,
        position: types.Position,
        invoked: bool,
    ) -> Any:
        started = time.perf_counter()
        language = self.languages.get(job.uri, "")
        # memory and the router open once, in a thread
        tuning = self.tuning if self.tuning is not None else await self.in_thread(self._tuned)
        decision = self.decision
        if decision is None:
            decision = await self.in_thread(lambda: self._route(language))
        if decision.fallback:
            return self._empty(f"no fill-in-the-middle model ({decision.explanation})")
        multiline = wants_multiline(cur, tuning.multiline)
        conf = self.conf
        # not ``multiline``: it follows from the cursor, and typing through the first
        # characters of a multi-line suggestion must still find it
        scope = f"{decision.model}|{tuning.max_tokens}|{conf.multiline}|{conf.prefix_tokens}"
        scope += f"|{conf.suffix_tokens}|{conf.chunk_tokens}|{conf.heal}"
        key = make_key(cur, scope)
        spec = self.speculation
        if spec is not None and spec.key == key and spec.writing.is_set():
            # this very line is being written: sooner than a fresh run (still evaluating its
            # prompt, it is stopped by the fresh run, which moves the cached suffix instead)
            await asyncio.shield(spec.task)
        hit = self.cache.lookup(key)
        if hit is not None:
            entry, typed = hit
            self.log.debug("cache hit (%d typed) in %.1f ms", typed, _ms(started))
            if not typed:
                if entry.speculative:  # the line after Enter, ready before it was asked
                    self.speculated["used"] += 1
                    self.cache.put(key, dataclasses.replace(entry, speculative=False))
                self._speculate(job.uri, cur, entry.texts[0], False, decision, tuning, scope)
            return self._items(cur, position, entry.texts, entry.completion_id, doc)
        if spec is not None:  # a fresh run: the line after the old suggestion can wait
            spec.stop.set()
        if conf.debounce_ms > 0:
            await asyncio.sleep(conf.debounce_ms / 1000)
            if job.stop.is_set():
                return self._empty("superseded")
        prompt = self._prompt(job.uri, cur, doc.source)
        count = MAX_ITEMS if invoked else 1
        try:
            cleaned = await self.in_thread(
                lambda: self._generate(job.stop, cur, prompt, decision, count, multiline, tuning)
            )
        except asyncio.CancelledError:
            job.stop.set()  # the generation stops at its next token
            raise
        if job.stop.is_set():
            return self._empty("superseded")
        texts = tuple(dict.fromkeys(c.text for c in cleaned if c.text))
        if not texts:
            return self._empty("nothing left after post-processing")
        completion_id = "c" + uuid.uuid4().hex[:12]
        self.cache.put(key, Entry(texts, completion_id))
        file = self._rel_path(job.uri)
        self._remember(completion_id, texts, language, file, decision.model, multiline)
        items = self._items(cur, position, texts, completion_id, doc, cleaned)
        first = next(c for c in cleaned if c.text)
        self._speculate(job.uri, cur, first.text, first.replace_rest, decision, tuning, scope)
        self.log.debug("%d item(s) in %.0f ms", len(items.items), _ms(started))
        return items

    # ------------------------------------------------------------------ speculation
    def _speculate(
        self,
        uri: str,
        cur: Cursor,
        text: str,
        replaces_rest: bool,
        decision: Decision,
        tuning: Tuning,
        scope: str,
    ) -> None:
        """Start computing the suggestion for the line after ``text``, as if the user
        accepted it and pressed Enter, while they read it (llama.vscode's speculative FIM).
        Background work: any real completion of the model stops it, the KV cache is left
        as it was, and its answer waits in the cache for the request after Enter."""
        if not self.conf.speculative:
            return
        nxt = after_accept(cur, text, replaces_rest, self.languages.get(uri, ""))
        if nxt is None:
            return
        key = make_key(nxt, scope)
        if key in self.cache:
            return
        if self.speculation is not None:
            self.speculation.stop.set()
        stop, writing = threading.Event(), threading.Event()
        task = asyncio.ensure_future(
            self._speculative(uri, nxt, key, stop, writing, decision, tuning)
        )
        lines = range(cur.line, nxt.line + 1)
        self.speculation = Speculation(uri, lines, key, stop, writing, task)

    async def _speculative(
        self,
        uri: str,
        cur: Cursor,
        key: Key,
        stop: threading.Event,
        writing: threading.Event,
        decision: Decision,
        tuning: Tuning,
    ) -> None:
        await asyncio.sleep(SPECULATE_AFTER_S)
        if stop.is_set():  # a request came first: the user is still typing
            return
        self.speculated["started"] += 1
        started = time.perf_counter()
        prompt = self._prompt(uri, cur, "")
        multiline = wants_multiline(cur, tuning.multiline)
        try:
            cleaned = await self.in_thread(
                lambda: self._generate(stop, cur, prompt, decision, 1, multiline, tuning, writing)
            )
        except Exception as exc:  # an optimisation: log, never report
            self.log.info("speculative completion skipped: %s", exc)
            return
        texts = tuple(c.text for c in cleaned if c.text)
        if stop.is_set() or not texts:
            why = "stopped" if stop.is_set() else f"empty ({cleaned[0].reason if cleaned else ''})"
            self.log.debug("speculative completion %s after %.0f ms", why, _ms(started))
            return
        completion_id = "c" + uuid.uuid4().hex[:12]
        self.cache.put(key, Entry(texts, completion_id, speculative=True))
        self.speculated["ready"] += 1
        language = self.languages.get(uri, "")
        self._remember(
            completion_id, texts, language, self._rel_path(uri), decision.model, multiline
        )
        self.log.debug("speculative completion ready in %.0f ms", _ms(started))

    def _items(
        self,
        cur: Cursor,
        position: types.Position,
        texts: tuple[str, ...],
        completion_id: str,
        doc: Any,
        cleaned: list[Cleaned] | None = None,
    ) -> types.InlineCompletionList:
        """Copilot-style items: from the line's start to the cursor, line prefix included."""
        replace = {c.text for c in cleaned or [] if c.replace_rest}
        start = types.Position(position.line, 0)
        items = []
        for index, text in enumerate(texts):
            end = position
            if text in replace and cur.line_suffix:  # up to the line's end, in client units
                line = cur.line_prefix + cur.line_suffix
                end = types.Position(position.line, doc.position_codec.client_num_units(line))
            items.append(
                types.InlineCompletionItem(
                    insert_text=cur.line_prefix + text,
                    range=types.Range(start, end),
                    command=types.Command(
                        title="tsr-lsp: completion accepted",
                        command=ACCEPTED,
                        arguments=[{"id": completion_id, "index": index}],
                    ),
                )
            )
        return types.InlineCompletionList(items=items)

    def _empty(self, reason: str) -> types.InlineCompletionList:
        self.log.debug("no completion: %s", reason)
        return types.InlineCompletionList(items=EMPTY_ITEMS)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _cursor(doc: Any, text: str, position: Any) -> Cursor | None:
    """The cursor at a client's position, None past the end. ``locate`` converts the
    column from the client's units itself: pygls's conversion answers the last line's end
    for a line it does not hold (the empty one after a final newline), clamps a blank
    line's column (the virtual indentation), and its lines split at form feeds too."""
    units = doc.position_codec.impl.code_units_for_char
    return locate(text, position.line, position.character, units)
