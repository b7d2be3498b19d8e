"""Pipeline: the open service state (embedder, index, retriever) and its three verbs.

Entry point: `Pipeline(settings)`; then `ask(question, top_k)` (an `Answer`, whose `to_json()`
is the CONTRACT's `/ask` object), `upsert(document)` / `delete(doc_id)` (durable, atomic index
changes) and `build(sources)`.

    >>> pipe = Pipeline(Settings.from_env())
    >>> pipe.ask("which clouds are building datacentres in Mexico?").answer

Queries run concurrently on the live (index, retriever) pair; writes are serialised, build a new
generation on disk, and swap it in with one assignment, so a reader sees the old index or the new
one, never a mix.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.answer import AnswerSettings, credited, extract_answer
from rag.config import Settings
from rag.conversation import Resolver, Turn
from rag.embed import Embedder, get_embedder
from rag.errors import RagError
from rag.indexing import BuildReport, Indexer, open_indexer
from rag.ingest import IngestResult, load_sources
from rag.lexical import has_content_words, language
from rag.metrics import normalise
from rag.names import Romanised, words_of
from rag.reader import SpanReader, load_reader
from rag.reader.answer import ReaderSettings, read_answer
from rag.retrieve import Mode, Retriever, RetrieveSettings, lexical_query
from rag.script import fold
from rag.store import Store, StoreBackend, StoreError, open_backend
from rag.translate import Dictionary
from rag.types import Answer, Document

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 20
# Text a question waits to have cut for `rag.names` (about 1.5 s): more is cut in the background.
NAMES_WAIT_CHARS = 250_000


class QuestionError(RagError, ValueError):
    """A question the service will not take; the message says what to fix."""


class NotReadyError(RagError, RuntimeError):
    """No index is loaded yet."""


@dataclass
class _Live:
    index: Store
    retriever: Retriever
    names: Romanised | None = None  # made at the first question (`Pipeline._names`)
    names_pending: bool = False  # being made in the background


def check_question(question: object, top_k: object = 5) -> tuple[str, int]:
    """The trimmed question and top_k, or a QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("question must be a string")
    q = question.strip()
    if not q:
        raise QuestionError("question is empty: ask something, e.g. 'Which clouds are in Mexico?'")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError("question is not valid Unicode (it has a lone surrogate)") from None
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"question is {len(q)} characters after trimming; the limit is {MAX_QUESTION_CHARS}"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise QuestionError(f"top_k must be a whole number from 1 to {MAX_TOP_K}")
    return q, top_k


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        retrieve: RetrieveSettings | None = None,
        answer: AnswerSettings | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embedder)
        self.dictionary = Dictionary.load()
        self.retrieve_settings = retrieve or RetrieveSettings()
        self.answer_settings = answer or AnswerSettings()
        self.reader_settings = ReaderSettings.fitted()
        self._reader: SpanReader | None = None
        self._reader_loaded = False
        self._reader_lock = threading.Lock()
        self._live: _Live | None = None
        self._write_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, str, str], Answer] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._names_lock = threading.RLock()  # `_names` holds it while it makes one
        self._name_words: dict[str, Counter[str]] = {}  # content hash -> `words_of` its text
        self._last_names: Romanised | None = None  # the newest table made, of any generation
        self.resolver = Resolver(self._similarity, self.dictionary.is_common)
        self.backend: StoreBackend = open_backend(settings, self.embedder)
        if self.backend.committed_version() is not None:
            self._swap(self._open())

    # -- state ---------------------------------------------------------------------------------
    def _open(self) -> Store:
        """The committed state, if its vectors are this embedder's (every engine: vectors of two
        embedders are not comparable, and a query would match nothing it should)."""
        live = self._live
        store = self.backend.open(reuse=live.index if live is not None else None)
        c = store.config
        if (c.embedder, c.dim) != (self.embedder.name, self.embedder.dim):
            raise StoreError(
                f"the {self.backend.name} index was built with embedder {c.embedder} (dim "
                f"{c.dim}); this run uses {self.embedder.name} (dim {self.embedder.dim}): run "
                f"`rag build` to rebuild it, or set RAG_EMBEDDER={c.embedder}"
            )
        return store

    def _swap(self, index: Store) -> None:
        self._live = _Live(index, Retriever(index, self.retrieve_settings))
        with self._cache_lock:
            self._cache.clear()

    def _names(self, live: _Live) -> Romanised | None:
        """The live corpus's words by how they read (`rag.names`), made at its first question:
        a new generation cuts only the documents whose content changed. Where that is more
        text than a question should wait for (a big corpus at start-up), it is made in the
        background, and questions meanwhile read names by the previous table, if any."""
        if live.names is None:
            with self._names_lock:
                if live.names is None and not live.names_pending:
                    # The texts to cut, read until they pass the bound (a document read from
                    # Milvus is a round trip): the bound decides, and they are not read again.
                    hashes, read, size = live.index.hashes, {}, 0
                    for d, h in hashes.items():
                        if h not in self._name_words:
                            read[d] = live.index.documents[d].text
                            size += len(read[d])
                            if size > NAMES_WAIT_CHARS:
                                break
                    if size <= NAMES_WAIT_CHARS:
                        self._make_names(live, hashes, read)
                    else:
                        live.names_pending = True
                        threading.Thread(
                            target=self._make_names,
                            args=(live, hashes, read),
                            name="names",
                            daemon=True,
                        ).start()
        return live.names or self._last_names

    def _make_names(self, live: _Live, hashes: Mapping[str, str], read: dict[str, str]) -> None:
        """`live`'s names: each document's words as cut before (by content hash), or cut now
        from its text (`read`, or read from the store)."""
        docs, known = live.index.documents, self._name_words
        words = {
            h: known[h] if h in known else words_of(read[d] if d in read else docs[d].text)
            for d, h in hashes.items()
        }
        with self._names_lock:
            self._name_words = words
            live.names = self._last_names = Romanised.of(words.values(), self.dictionary)

    @property
    def reader(self) -> SpanReader | None:
        """The trained reader, loaded at first use (None: the rules answer)."""
        if not self._reader_loaded:
            with self._reader_lock:
                if not self._reader_loaded:
                    self._reader = load_reader(self.settings.reader)
                    self._reader_loaded = True
        return self._reader

    @property
    def ready(self) -> bool:
        return self._live is not None

    @property
    def index(self) -> Store:
        live = self._live
        if live is None:
            raise NotReadyError("no index is loaded yet")
        return live.index

    # -- reading -------------------------------------------------------------------------------
    def _similarity(self, phrase: str, candidates: Sequence[str]) -> list[float]:
        """Cosine of the phrase to each candidate, for reading follow-ups (`rag.conversation`)."""
        vectors = self.embedder.embed_queries([fold(phrase), *map(fold, candidates)])
        return [float(v @ vectors[0]) for v in vectors[1:]]

    def ask(
        self,
        question: str,
        top_k: int = 5,
        mode: Mode | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """The answer to one question, read in the context of `history` (the earlier turns,
        oldest first) when it is a follow-up; `.to_json()` is the CONTRACT's `/ask` object."""
        started = time.perf_counter()
        q, top_k = check_question(question, top_k)
        live = self._live
        if live is None:
            raise NotReadyError("no index is loaded yet")
        mode = mode or self.retrieve_settings.mode
        t = time.perf_counter()
        resolved = self.resolver.run(q, history).question if history else q
        resolve_ms = (time.perf_counter() - t) * 1000
        # Questions that differ only in case, width or spacing share an answer; a follow-up
        # shares one with the question it was read as.
        key = (normalise(resolved), top_k, mode.value, live.index.version)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is not None:
            total = (time.perf_counter() - started) * 1000
            return replace(
                hit,
                question=q,
                resolved_question=resolved,
                timings_ms={"cache": 1.0, "total": total},
            )
        timings: dict[str, float] = {"resolve": resolve_ms} if history else {}
        # Traditional characters are folded to Simplified for matching (`rag.script`); the
        # question shown back and every stored text stay as written.
        folded = fold(resolved)
        lang = language(folded)
        dictionary = self.dictionary if mode == Mode.HYBRID_DICT else None
        if dictionary is not None:
            # "Zhipu" is read as the corpus's 智谱 (`rag.names`), as 訊飛 is read as 讯飞; the
            # question stays in the language it was asked in (read as Chinese, for its
            # characters, the rules took an English question for a Chinese one: seeds dev
            # 0.939 -> 0.909, false abstention 0.000 -> 0.051).
            t = time.perf_counter()
            names = self._names(live)
            if names is not None:
                folded = names.transliterate(folded, live.index.knows)
            timings["names"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        vector = self.embedder.embed_queries([folded])[0]
        timings["embed"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        query = lexical_query(folded, vector, dictionary, lang)
        timings["query_terms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        passages = live.retriever.run(
            query, top_k=max(top_k, self.answer_settings.read_k), mode=mode
        )
        timings["retrieve"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        result = extract_answer(query, passages, live.index, self.answer_settings, dictionary)
        timings["extract"] = (time.perf_counter() - t) * 1000
        reader = self.reader
        credit = credited(query.text, result, live.index)
        if credit is not None:
            result = credit  # an article's byline, read by neither answerer (`rag.answer.credits`)
        elif reader is not None:
            t = time.perf_counter()
            result = read_answer(
                query, passages, result, live.index, reader, self.reader_settings, dictionary
            )
            timings["read"] = (time.perf_counter() - t) * 1000
        if not result.abstained and not has_content_words(
            folded, lambda w: live.index.knows(w) or bool(self.dictionary.translate(w))
        ):
            # Nothing to search for (`' OR 1=1; --`): whatever matched, matched by chance.
            result = replace(result, answer="", abstained=True, confidence=0.0, citations=[])
        timings["total"] = (time.perf_counter() - started) * 1000
        response = Answer(
            question=q,
            resolved_question=resolved,
            answer=result.answer,
            abstained=result.abstained,
            confidence=result.confidence,
            citations=tuple(result.citations),
            # Best first by the evidence the answer read, as the answerer ranked them (its
            # sentence score beside the retrieval's).
            passages=tuple(result.ranking[:top_k]),
            answer_type=result.answer_type,
            lang=query.lang,
            evidence=result.evidence,
            timings_ms=timings,
        )
        if self.settings.cache_size:
            with self._cache_lock:
                self._cache[key] = response
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
        return response

    # -- writing -------------------------------------------------------------------------------
    def _writer(self) -> Indexer:
        return open_indexer(self.settings, self.embedder, self.backend)

    def build(
        self, sources: list[Path], progress: bool = False
    ) -> tuple[BuildReport, IngestResult]:
        """Make the index hold exactly the documents of `sources`. Sources that yield no document
        (a typo, an empty folder) change nothing: they must never empty an index."""
        ingested = load_sources(sources)
        if not ingested.documents:
            return BuildReport(skipped=ingested.skipped), ingested
        with self._write_lock:
            report = self._writer().apply(
                ingested.documents, replace_all=True, progress=progress, base=self._base()
            )
            report.skipped = ingested.skipped
            if report.changed or self._live is None or report.store is not self._base():
                self._swap(report.store or self._open())
        return report, ingested

    def _base(self) -> Store | None:
        live = self._live
        return live.index if live is not None else None

    def upsert(self, doc: Document) -> int:
        """Add or replace one document; returns its chunk count once it is durably stored.
        The writer starts from the open index (no reload) and hands back the new one, so a
        write costs its document's embedding and the new generation's files, and readers keep
        the previous index until the swap."""
        with self._write_lock:
            store = self._writer().apply([doc], base=self._base()).store
            assert store is not None
            if store is not self._base():
                self._swap(store)
            return store.chunks_of(doc.doc_id)

    def delete(self, doc_id: str) -> bool:
        """Remove one document; False when it is unknown."""
        with self._write_lock:
            self._follow()  # another process may have added it
            live = self._live
            if live is None or doc_id not in live.index.documents:
                return False
            store = self._writer().apply(deletes=[doc_id], base=live.index).store
            assert store is not None
            self._swap(store)
            return True

    def refresh(self) -> bool:
        """Swap in the committed generation when another process (a second worker, `rag build
        --merge`) wrote one since; True if it did. Servers call it every RAG_RELOAD_SECONDS."""
        if not self._behind():
            return False
        with self._write_lock:
            return self._follow()

    def _behind(self) -> bool:
        """Whether another process committed a state this one has not swapped in."""
        version = self.backend.committed_version()
        live = self._live
        return version is not None and (live is None or live.index.version != version)

    def _follow(self) -> bool:
        if not self._behind():
            return False
        self._swap(self._open())
        return True


__all__ = ["Pipeline", "QuestionError", "NotReadyError", "StoreError", "check_question"]
