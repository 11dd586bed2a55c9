"""The answer layer: from retrieved passages to a cited answer that answers.

    layer = AnswerLayer.build(pool, question, query, embedder=..., outlets=[...])
    layer.check.sufficient      # answerable, from words and meaning (rag.answering.evidence_check)
    layer.extractive_text()     # "Yes. <evidence> [1] <evidence> [2]" / "Sam Altman. <sentence> [1]" / None

The text uses [n] markers over the pool's passages and quotes passage sentences verbatim; rag.answering then
attributes it like any model's answer, so every excerpt is checked against the article. A yes/no question leads
with "Yes." or "No." (rag.answering.verdicts) and gives the evidence for each part it names, or says that the articles
don't speak to a part; an entity question leads with the entity as the source writes it (rag.answering.short_answers).
Open questions return None here: the extractive model's sentence selection answers them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..retrieval.routing import OutletMatcher, find_dates
from .answer_plan import ENTITY, YESNO, AnswerPlan, plan as make_plan
from .citations import Pool, terms
from .markers import MARKER
from .evidence_check import Check, EvidenceView, check as check_evidence
from .part_search import complete
from .short_answers import ShortAnswer, choose, lead_text
from .verdicts import Verdict, decide

NOT_SAID = "The articles don't say"


def _display(text: str) -> str:
    # verbatim text may hold bracketed numbers ("[3]") that would read as our citation markers
    text = MARKER.sub(lambda m: "(" + m.group(0).strip("^[]【】") + ")", text)
    return " ".join(text.split())


@dataclass
class AnswerLayer:
    pool: Pool
    question: str
    plan: AnswerPlan
    view: EvidenceView
    check: Check
    matcher: OutletMatcher | None
    outlet_words: frozenset[str]
    verdict: Verdict | None = None
    short: ShortAnswer | None = None

    @classmethod
    def build(cls, pool: Pool, question: str, query: str | None, *, embedder, outlets: Sequence[str] = (),
              lexical_ok: bool, lexical_coverage: float, weights: Mapping[str, float] | None = None,
              search=None) -> "AnswerLayer":
        """`search(text, k)` (the retriever's, under the question's filters) lets a part whose names the passages
        lack be looked up again (rag.answering.part_search); `layer.pool` then holds the passages it added."""
        matcher = OutletMatcher(list(outlets)) if outlets else None
        outlet_words = frozenset(t for o in outlets for t in terms(o))
        pool = complete(pool, question, search, outlet_words)
        view = EvidenceView(pool, question, query, embedder, weights=weights)
        chk = check_evidence(view, lexical_ok, lexical_coverage, outlet_words)
        return cls(pool, question, make_plan(question), view, chk, matcher, outlet_words)

    def _part_passages(self, part: str) -> set[int] | None:
        """The passages a part speaks of: those of the outlet it names, narrowed to the date it names when some
        passage has that date; None (all passages) when it names no outlet."""
        named = self.matcher.find(part)[0] if self.matcher is not None else ()
        if not named:
            return None
        chosen = {i for i, p in enumerate(self.pool.passages) if p.article.source in named}
        dates = set(find_dates(part))
        dated = {i for i in chosen if self.pool.passages[i].article.published_at[:10] in dates}
        return dated or chosen

    def _marker(self, unit) -> str:
        return f"[{self.pool.passages[unit.passage].n}]"

    def extractive_text(self) -> str | None:
        if self.plan.kind == YESNO:
            return self._yes_no()
        if self.plan.kind == ENTITY:
            return self._entity()
        return None

    def _yes_no(self) -> str:
        parts = list(self.plan.parts)
        verdict = decide(self.plan, self.view, [self._part_passages(p) for p in parts], self.question)
        self.verdict = verdict
        if self.plan.choices:
            lead = lead_text(self.plan.choices[0] if verdict.yes else self.plan.choices[1])
        else:
            lead = "Yes." if verdict.yes else "No."
        out = [lead]
        seen: set[tuple[int, int]] = set()
        for pe in verdict.parts:
            if pe.best is None or not pe.answered:
                out.append(f'{NOT_SAID}: "{pe.part}".')
                continue
            u = pe.best.unit
            if (u.passage, u.start) in seen:
                continue
            seen.add((u.passage, u.start))
            out.append(f"{_display(u.text)} {self._marker(u)}")
        return " ".join(out)

    def _entity(self) -> str | None:
        ranked = self.view.scores()
        short = choose(self.plan, ranked, self.question, self.outlet_words, self.pool,
                       embed=self.view.embed_texts if self.view.has_embedder else None)
        self.short = short
        if short is None:
            return None
        u = short.support.unit
        out = [f"{lead_text(short.text)} {self._marker(u)}", f"{_display(u.text)} {self._marker(u)}"]
        # the same answer in another article the question draws on (multi-source questions), at most one more
        key = short.text.split()[-1]
        for sc in ranked[:12]:
            v = sc.unit
            if v.passage != u.passage and key in v.text and self.pool.passages[v.passage].article.id != \
                    self.pool.passages[u.passage].article.id:
                out.append(f"{_display(v.text)} {self._marker(v)}")
                break
        return " ".join(out)




def instruction_for(plan: AnswerPlan) -> str | None:
    """The closing instruction for a generative model: short, cited, and in the shape the question asks for."""
    if plan.kind == YESNO:
        return ("Start your answer with Yes or No, then give the evidence in one or two short sentences, each "
                "citing its source like [1].")
    if plan.kind == ENTITY:
        return ("Start your answer with the name or number asked for, written as the source writes it, then give "
                "one short sentence of evidence citing its source like [1].")
    return None


__all__ = ["AnswerLayer", "NOT_SAID", "instruction_for"]
