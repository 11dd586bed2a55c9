"""Answering: retrieve, decide whether the evidence can answer, let a model write, verify every citation.

    answer(index, "What did Bulgaria claim about Russia?")                  # extractive, no LLM
    answer(index, "...", model="llamacpp:smollm2-135m")                      # any registered provider
    for piece in answer_stream(index, "..."): ...                           # text pieces, then the Answer

When the evidence is weak the answer is a refusal, decided before any model runs, so it is the same for every
model; a model that itself says the sources do not answer is honoured too. See `assess` for the signal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from ..defaults import DEFAULT_K, REFUSAL
from ..providers.base import Model, Prompt, Source, check_model, get_model
from ..retrieval import Retriever, check_query
from ..schema import Answer, AnswerSentence
from ..storage.base import Filters
from .citations import (
    Pool, answer_sentences, attribute, is_refusal, passages_from_hits, query_weights, unit_citations,
)
from .markers import MarkerStream
from .news import newest_relevant, quote_answer
from .question import AskedQuestion, analyse
from .answer_layer import AnswerLayer, instruction_for
from .prompting import build_prompt

log = logging.getLogger(__name__)

# Refuse unless one passage sentence (or two adjacent ones) holds at least GATE_COVERAGE of the question's
# IDF-weighted content terms. Seed questions and test articles (tests/test_answering.py): answerable ones score
# 0.63-1.0, unanswerable ones 0.0-0.40. Questions of MULTI_PART_TERMS or more content terms (MultiHop-RAG style:
# "... as reported by The Verge and TechCrunch ...") draw on several articles, so for them up to three sentences
# from any passages may share the work. On the full MultiHop-RAG corpus (dev split, 100 answerable questions and
# 80 null queries, k=10) that lets 87/100 answerable questions through and refuses 79/80 null queries; a union
# threshold of 0.45 would pass 95/100 but also 7/80 nulls; single-sentence coverage alone passes only 17/100.
GATE_COVERAGE = 0.5
MULTI_PART_TERMS = 10
UNION_COVERAGE = 0.5
UNCHECKED_NOTE = ("Note: the model's answer could not be checked against the articles (no sentence of it is "
                  "supported by a source), so this answer is quoted from the articles instead.")
_PROMPT_OPTIONS = ("max_tokens", "temperature")


@dataclass(frozen=True)
class Evidence:
    sufficient: bool
    coverage: float        # best sentence-level coverage of the question's weighted content terms
    reason: str


def assess(pool: Pool, question: str, query: str | None = None, *,
           weights: Mapping[str, float] | None = None) -> Evidence:
    """Is there a passage sentence that speaks to the question? Model-independent and cheap (lexical).
    `weights`: the question's weighted terms when the caller has them (rag.answering.question), else computed."""
    if weights is None:
        weights = query_weights(question, query)
    if not weights:
        return Evidence(False, 0.0, "the question names nothing to look for")
    if not pool.units:
        return Evidence(False, 0.0, "no indexed passage matches the question")
    if not any(pool.matches(t) for t in weights):
        return Evidence(False, 0.0, "none of the question's words appear in the closest passages")
    coverage, _ = pool.best_support(weights, frozenset())
    if coverage >= GATE_COVERAGE:
        return Evidence(True, coverage, "")
    if len(weights) >= MULTI_PART_TERMS:
        union, _ = pool.best_union(weights)
        if union >= UNION_COVERAGE:
            return Evidence(True, union, "")
        coverage = max(coverage, union)
    return Evidence(False, coverage, "the closest passages leave most of the question uncovered")


def resolve_model(model: str | Model, options: dict) -> Model:
    if isinstance(model, str):
        return get_model(model, **options)
    return check_model(model)


def _now() -> float:
    return time.perf_counter() * 1000.0


def _history_pairs(history: Sequence) -> list[tuple[str, str]]:
    pairs = []
    for turn in history:
        q, a = turn
        pairs.append((q, a.text if isinstance(a, Answer) else str(a)))
    return pairs


def answer(index, question: str, *, model: str | Model = "extractive", k: int | None = None, sources=None,
           date_from: str | None = None, date_to: str | None = None, history: Sequence = (),
           query: str | None = None, as_of: str | None = None, **model_options) -> Answer:
    """Answer `question` from the index (a `rag.Index`); every claim cited, `refused=True` when the articles don't
    say. The same as `index.ask`."""
    return index.answerer.answer(question, model=model, k=k, sources=sources, date_from=date_from, date_to=date_to,
                                 history=history, query=query, as_of=as_of, **model_options)


def answer_stream(index, question: str, *, model: str | Model = "extractive", k: int | None = None, sources=None,
                  date_from: str | None = None, date_to: str | None = None, history: Sequence = (),
                  query: str | None = None, as_of: str | None = None,
                  **model_options) -> Iterator[str | Answer]:
    """Like `answer`, but yields text pieces as the model writes them, then the final Answer (`index.ask_stream`)."""
    return index.answerer.stream(question, model=model, k=k, sources=sources, date_from=date_from,
                                 date_to=date_to, history=history, query=query, as_of=as_of, **model_options)


class Answerer:
    """Answers questions over a retriever. Built with its collaborators: the retriever (hits for a checked query
    under checked filters), the catalog (its outlets, and the quotes stored at index time) and the embedder (the
    meaning half of the evidence check), each question read once (rag.answering.question) and passed down."""

    def __init__(self, retriever: Retriever, catalog, embedder: Callable[[], object]):
        self.retriever = retriever
        self.catalog = catalog
        self._embedder = embedder

    def _outlets(self) -> list[str]:
        return [s for s, _ in self.catalog.sources()]

    def answer(self, question: str, **options) -> Answer:
        return final_answer(self.stream(question, **options))

    def stream(self, question: str, *, model: str | Model = "extractive", k: int | None = None, sources=None,
               date_from: str | None = None, date_to: str | None = None, history: Sequence = (),
               query: str | None = None, as_of: str | None = None, **model_options) -> Iterator[str | Answer]:
        """Bad input (empty or overlong question, unknown model, bad outlets or dates) raises here, before
        iteration starts. The streamed pieces show markers numbered in order of first use; the final Answer's text
        is the verified version (a marker may move or go), so surfaces should show `Answer.text` once it arrives."""
        t0 = _now()
        question = check_query(question)
        query = check_query(query) if query else None
        prompt_opts = {k_: model_options.pop(k_) for k_ in _PROMPT_OPTIONS if k_ in model_options}
        m = resolve_model(model, model_options)
        asked = analyse(question, known_outlets=self._outlets, query=query, sources=sources, date_from=date_from,
                        date_to=date_to, as_of=as_of)
        return self._run(asked, m, k or DEFAULT_K, history, prompt_opts, t0)

    def _run(self, asked: AskedQuestion, m: Model, k: int, history: Sequence, prompt_opts: dict,
             t0: float) -> Iterator[str | Answer]:
        t_search = _now()
        question, search_q, weights, plan = asked.question, asked.query, asked.weights, asked.plan
        hits = self.retriever.ranked(search_q, k, asked.filters)
        filters = asked.filters
        notes = plan.notes
        if plan.recency:
            hits, note = newest_relevant(hits, question, search_q, weights=weights)
            notes += (note,) if note else ()
        t_ret = _now()
        passages = passages_from_hits(hits)
        pool = full_pool = Pool(passages)
        evidence = assess(pool, question, search_q, weights=weights)
        if not evidence.sufficient and asked.fallback is not None:
            # "this week" in a question may be the article's week: nothing in the window answers, so say so and
            # search every date
            hits = self.retriever.ranked(search_q, k, asked.fallback)
            filters = asked.fallback
            notes = (f"nothing in that window answers it ({plan.notes[0]}); searched all dates",)
            passages = passages_from_hits(hits)
            pool = full_pool = Pool(passages)
            evidence = assess(pool, question, search_q, weights=weights)
            t_ret = _now()
        base = Answer(question=asked.asked, text="", refused=False, model=m.model_id, query=search_q,
                      hits=tuple(hits), notes=notes)
        if not getattr(m, "generative", True) and \
                (quoted := quote_answer(self.catalog, question, hits, base, filters=dict(plan.fallback or plan.filters)
                                        if notes[:1] != plan.notes[:1] else plan.filters)) is not None:
            yield quoted.text          # who said what, from the quotes stored at index time (rag.news_answers)
            yield _timed(quoted, t0, t_search, t_ret)
            return
        layer = self.layer(pool, question, search_q, evidence, weights=weights, filters=filters)
        if layer is not None:    # words and meaning decide together (rag.answering.evidence_check)
            evidence = Evidence(layer.check.sufficient, evidence.coverage, layer.check.reason)
            pool = full_pool = layer.pool      # with any passages found for a part the first search missed
            passages = list(pool.passages)
        if not evidence.sufficient:
            ans = _refusal(base, pool, weights, evidence.reason)
            yield ans.text
            yield _timed(ans, t0, t_search, t_ret)
            return

        generative = bool(m.generative)
        if generative:
            built = build_prompt(question, passages, context_tokens=m.context_tokens,
                                 history=_history_pairs(history), query=search_q,
                                 source_tokens=m.source_tokens, pool=pool, as_of=plan.today,
                                 max_sources=getattr(m, "max_sources", None),
                                 instruction=instruction_for(layer.plan) if layer else None, weights=weights,
                                 **prompt_opts)
            prompt, offered = built.prompt, list(built.passages)
        else:
            offered = passages
            sources = tuple(Source(p.n, p.article.title, p.article.source, p.article.published_at, p.text)
                            for p in passages)
            prompt = Prompt(question=question, sources=sources,
                            extra={"query": search_q} if search_q != question else {})
        if len(offered) != len(passages):
            pool = Pool(offered)

        streaming = generative and bool(m.can_stream)
        if streaming:
            renumber = MarkerStream(len(offered))
            raw_parts: list[str] = []
            for piece in m.generate(prompt, stream=True):
                raw_parts.append(piece)
                shown = renumber.feed(piece)
                if shown:
                    yield shown
            tail = renumber.flush()
            if tail:
                yield tail
            raw = "".join(raw_parts)
        else:
            composed = layer.extractive_text() if layer is not None and not generative else None
            raw = composed if composed is not None else "".join(m.generate(prompt, stream=False))

        ans = _finish(base, pool, raw, weights)
        if generative and not ans.refused and not any(s.supported and s.citations for s in ans.sentences):
            ans = _checked_fallback(base, full_pool, layer, raw, question, search_q, weights)
        if not streaming:
            yield ans.text
        yield _timed(ans, t0, t_search, t_ret)

    def layer(self, pool: Pool, question: str, query: str, evidence: Evidence, *,
              weights: Mapping[str, float] | None = None, filters: Filters | None = None) -> AnswerLayer | None:
        """The answer layer over this pool; None when there is nothing to weigh (no passages, no question terms).
        With `filters` (the question's, checked), a part whose names the passages lack is searched again under
        them (rag.answering.part_search)."""
        if not pool.units or evidence.reason in ("the question names nothing to look for",):
            return None
        search = None
        if filters is not None:
            def search(text: str, k: int) -> list:
                return self.retriever.ranked(check_query(text), k, filters)
        return AnswerLayer.build(pool, question, query, embedder=self._embedder(), outlets=self._outlets(),
                                 lexical_ok=evidence.sufficient, lexical_coverage=evidence.coverage, weights=weights,
                                 search=search)


def final_answer(stream: Iterator[str | Answer]) -> Answer:
    """The Answer a stream ends with (the text pieces before it are for surfaces that show them as they come)."""
    final = None
    for item in stream:
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final


def _checked_fallback(base: Answer, pool: Pool, layer: AnswerLayer | None, raw: str, question: str,
                      search_q: str, weights: Mapping[str, float]) -> Answer:
    """A model answer with no supported sentence is not shown as the answer: the verified extractive answer is,
    with a visible note; the model's text stays in `unverified` for those who want to see it."""
    from .extractive import ExtractiveModel

    text = layer.extractive_text() if layer is not None else None
    if text is None:
        sources = tuple(Source(p.n, p.article.title, p.article.source, p.article.published_at, p.text)
                        for p in pool.passages)
        text = "".join(ExtractiveModel().generate(Prompt(question=question, sources=sources,
                                                         extra={"query": search_q})))
    ans = _finish(base, pool, text, weights)
    if ans.refused:
        return replace(ans, note=UNCHECKED_NOTE, unverified=raw)
    return replace(ans, text=f"{ans.text}\n\n{UNCHECKED_NOTE}", note=UNCHECKED_NOTE, unverified=raw)


def _finish(base: Answer, pool: Pool, raw: str, weights: Mapping[str, float]) -> Answer:
    if not raw.strip():
        return _refusal(base, pool, weights, "the model gave no answer")
    att = attribute(raw, pool)
    first = answer_sentences(raw)[:1]
    if first and is_refusal(first[0][0]) and not att.citations:
        return _refusal(base, pool, weights, "the model found no answer in the sources")
    return replace(base, text=att.text, citations=att.citations, sentences=att.sentences)


def _refusal(base: Answer, pool: Pool, weights: Mapping[str, float], reason: str) -> Answer:
    """'The articles don't say', with the closest passage sentences cited so the person can check for
    themselves; the text says plainly that they do not answer the question."""
    log.debug("refusing %r: %s", base.question, reason)
    scored = sorted(((pool.coverage(weights, u.terms) if weights else 0.0, -i, u) for i, u in enumerate(pool.units)),
                    key=lambda x: (x[0], x[1]), reverse=True)
    picks = []
    seen_passages: set[int] = set()
    for cov, _, u in scored:
        if len(picks) == 2 or cov <= 0:     # a passage sharing no word with the question is no "closest" one
            break
        if u.passage in seen_passages and len(pool.passages) > 1 or len(u.text) < 25:
            continue
        seen_passages.add(u.passage)
        picks.append((u, cov))
    citations = unit_citations(pool, picks)
    sentences = [AnswerSentence(REFUSAL)]
    if citations:
        refs = " and ".join(f"[{c.n}]" for c in citations)
        tail = (f"The closest passages are {refs}, but they do not answer the question." if len(citations) > 1
                else f"The closest passage is {refs}, but it does not answer the question.")
        sentences.append(AnswerSentence(tail, tuple(c.n for c in citations)))
        text = f"{REFUSAL} {tail}"
    else:
        tail = "No indexed passage mentions what it asks about."
        text = f"{REFUSAL} {tail}"
        sentences.append(AnswerSentence(tail))
    return replace(base, text=text, refused=True, citations=citations, sentences=tuple(sentences))


def _timed(ans: Answer, t0: float, t_search: float, t_ret: float) -> Answer:
    # "total" also counts checking the question and building the model, which neither stage owns
    t_end = _now()
    return replace(ans, timings_ms={"retrieve": t_ret - t_search, "generate": t_end - t_ret, "total": t_end - t0})


__all__ = ["Answerer", "answer", "answer_stream", "assess", "Evidence", "DEFAULT_K", "GATE_COVERAGE", "REFUSAL"]
