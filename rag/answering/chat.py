"""A conversation over the index: follow-ups are rewritten into standalone queries, history is kept in a budget.

    chat = index.chat()
    chat.ask("What did Bulgaria claim about Russia?")
    chat.ask("what about Cooper?").query     # 'What did Cooper claim about Russia?'

Rewriting needs no LLM. A question is a follow-up when it opens with a connector ("and ...", "what about ..."),
leans on a pronoun ("how many of them?") or names at most one thing of its own. A follow-up of the form
"what about X?" takes the previous question and puts X in place of its first named entity; any other follow-up
keeps its own words and gets the previous question's salient names and terms appended in parentheses. The
rewritten query is what is searched and is shown as `Answer.query`. With `rewrite="model"` a generative model
is asked to rewrite first, and the heuristic is the fallback when its reply does not look like a question on
the same subject.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

from .answer import _PROMPT_OPTIONS, answer_stream, final_answer, resolve_model
from .citations import is_refusal, terms
from .markers import strip_markers
from ..errors import UserError
from ..providers.base import Model, Prompt
from ..retrieval import STOPWORDS, check_query
from ..schema import Answer
from ..tokens import count_tokens

MAX_CONTEXT_TERMS = 6
_CONNECTOR = re.compile(r"^\s*(?:and|but|also|so|then|ok(?:ay)?|what about|how about|and what about|what else|"
                        r"anything else|same for|and how about)\b[\s,]*", re.IGNORECASE)
_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:(?:what|how)\s+about\s+|and\s+)(?P<x>[^?.!]+?)\s*[?.!]*\s*$", re.IGNORECASE)
_PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her)\b", re.IGNORECASE)
_ANAPHORA = frozenset("he she they them it its his her hers their theirs him ones former latter".split())
# "this"/"that" point back only when nothing follows them ("why did they do that?"), not in "this year"
_DEMONSTRATIVE_END = re.compile(r"\b(?:this|that|these|those|there|so)\s*[?.!]*\s*$", re.IGNORECASE)
_WH = frozenset("what who whom whose when where which why how is are was were did does do can could will would "
                "should has have had and but also so then ok okay".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d[\d,.]*\d|\d")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d[\d,.]*\d|\d|[^\w\s]")
_CONTEXT = re.compile(r"\s*\(([^()]*)\)\s*$")


def _entities(text: str) -> list[str]:
    """Capitalised names in order ("Yvette Cooper", "Home Secretary", "Bulgaria"), possessives dropped."""
    words = _TOKEN.findall(text)      # punctuation tokens end a name: "Daniel Mitov, Bulgaria's"
    out: list[str] = []
    run: list[str] = []
    for i, w in enumerate(words + [""]):
        clean = re.sub(r"['’]s$", "", w)
        capital = bool(clean) and clean[0].isupper() and not (i == 0 and clean.lower() in _WH) \
            and clean.lower() not in _WH and clean != "I"
        if capital:
            run.append(clean)
            if clean != w:          # "Bulgaria's equivalent": the possessive ends the name
                out.append(" ".join(run))
                run = []
        else:
            if run:
                out.append(" ".join(run))
            run = []
    return list(dict.fromkeys(out))


_SKIP = STOPWORDS | _WH | frozenset("many much".split())


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w.lower() not in _SKIP and len(w) > 1]


def split_context(query: str) -> tuple[str, list[str]]:
    """'what did the UK say? (Russia, claim)' -> ('what did the UK say?', ['Russia', 'claim'])."""
    m = _CONTEXT.search(query)
    if not m:
        return query.strip(), []
    return query[: m.start()].strip(), [x.strip() for x in m.group(1).split(",") if x.strip()]


def salient(query: str) -> list[str]:
    """Names first, then other content words, of a (possibly already rewritten) query."""
    core, ctx = split_context(query)
    names = _entities(core)
    name_words = {w.lower() for n in names for w in n.split()}
    words = [w for w in _content_words(core) if re.sub(r"['’]s$", "", w).lower() not in name_words]
    return list(dict.fromkeys(names + [w.lower() if not w[0].isupper() else w for w in words] + ctx))


def is_followup(question: str) -> bool:
    if _CONNECTOR.match(question):
        return True
    words = {w.lower() for w in _WORD.findall(question)}
    if words & _ANAPHORA or _DEMONSTRATIVE_END.search(question):
        return True
    return len(set(terms(question))) <= 1


def rewrite(question: str, previous: str | None, previous_answer: str | None = None) -> str:
    """A standalone version of `question` given the previous standalone query (None: nothing to lean on) and,
    for "he/she" follow-ups to a "who" question, the previous answer's text."""
    question = " ".join(question.split())
    if not previous or not is_followup(question):
        return question
    prev_core, prev_ctx = split_context(previous)
    person = _PERSON_PRONOUN.search(question)
    if person and previous_answer and re.match(r"^\s*who\b", prev_core, re.IGNORECASE):
        asked = {w.lower() for n in _entities(prev_core) for w in n.split()}
        found = [n for n in _entities(previous_answer) if not {w.lower() for w in n.split()} & asked]
        if found:
            # "what did he say?" after "Who is Bulgaria's equivalent of the Home Secretary?" -> Daniel Mitov
            name = found[0] + ("'s" if person.group(0).lower() in ("his",) else "")
            out = question[: person.start()] + name + question[person.end():]
            return _CONNECTOR.sub("", out).strip()[:1].upper() + _CONNECTOR.sub("", out).strip()[1:]
    about = _ABOUT.match(question)
    if about:
        x = about.group("x").strip()
        names = _entities(prev_core)
        if names and re.match(r"^[\w'’\- ]{1,60}$", x) and len(x.split()) <= 4 \
                and not {w.lower() for w in x.split()} & _WH:
            # "what about Cooper?" after "What did Bulgaria claim about Russia?"
            swapped = re.sub(r"(?:\bthe\s+)?" + re.escape(names[0]) + r"(?:['’]s)?", x, prev_core, count=1)
            return swapped + (f" ({', '.join(prev_ctx)})" if prev_ctx else "")
    own_terms = set(terms(question))
    own_names = _entities(question)
    ctx = []
    prev_names = _entities(prev_core)
    for s in salient(previous):
        if set(terms(s)) <= own_terms:
            continue
        # a follow-up that names its own subject ("and what did the UK say?") replaces the old subject
        if own_names and prev_names and s == prev_names[0]:
            continue
        ctx.append(s)
    core = _CONNECTOR.sub("", question).strip() or question
    core = core[0].upper() + core[1:]
    if not ctx:
        return core
    return f"{core} ({', '.join(ctx[:MAX_CONTEXT_TERMS])})"


_REWRITE_SYSTEM = ("Rewrite the user's last question as one standalone question that can be understood without the "
                   "conversation. Keep the names and facts it refers to. Reply with the question only.")


def rewrite_with_model(model: Model, question: str, history: list[tuple[str, Answer]]) -> str | None:
    """Ask a generative model to rewrite; None when its reply is unusable (the heuristic is used then)."""
    turns = "\n".join(f"User: {q}\nAssistant: {strip_markers(a.text)[:400]}" for q, a in history[-3:])
    messages = ({"role": "system", "content": _REWRITE_SYSTEM},
                {"role": "user",
                 "content": f"Conversation:\n{turns}\n\nLast question: {question}\n\nStandalone question:"})
    try:
        reply = "".join(model.generate(Prompt(question=question, sources=(), messages=messages, max_tokens=64),
                                       stream=False))
    except UserError:
        raise
    except Exception:           # a flaky rewrite must not lose the turn; the heuristic still works
        return None
    reply = " ".join(reply.strip().strip('"').split())
    if not reply or len(reply) > max(300, 4 * len(question)) or is_refusal(reply) or "\n" in reply:
        return None
    own = set(terms(question))
    if own and not own & set(terms(reply)):
        return None
    return reply


class Chat:
    """A conversation. `history` holds (question as typed, Answer) pairs, oldest first, within
    `history_tokens` (oldest turns are dropped first; the latest one is always kept)."""

    def __init__(self, index, model: str | Model = "extractive", k: int | None = None, history_tokens: int = 1500,
                 rewrite: str = "heuristic", **model_options):
        if rewrite not in ("heuristic", "model"):
            raise UserError("rewrite must be 'heuristic' or 'model'")
        self.index = index
        self.k = k
        self.history_tokens = int(history_tokens)
        self.rewrite_mode = rewrite
        self._prompt_opts = {key: model_options.pop(key) for key in _PROMPT_OPTIONS if key in model_options}
        self.model = resolve_model(model, model_options)   # bad SPECs fail here, once, not on every turn
        self.history: list[tuple[str, Answer]] = []

    def reset(self) -> None:
        self.history.clear()

    def standalone(self, question: str) -> str:
        """The query the next `ask(question)` would search for."""
        question = check_query(question)
        if not self.history:
            return question
        last_q, last = self.history[-1]
        previous = last.query or last_q
        previous_answer = None if last.refused else strip_markers(last.text)
        if self.rewrite_mode == "model" and self.model.generative and is_followup(question):
            via_model = rewrite_with_model(self.model, question, self.history)
            if via_model:
                return check_query(via_model)
        return check_query(rewrite(question, previous, previous_answer))

    def ask(self, question: str, **filters) -> Answer:
        return final_answer(self.ask_stream(question, **filters))

    def ask_stream(self, question: str, **filters) -> Iterator[str | Answer]:
        question = check_query(question)
        t0 = time.perf_counter()
        query = self.standalone(question)
        rewrite_ms = (time.perf_counter() - t0) * 1000.0
        k = filters.pop("k", None) or self.k
        stream = answer_stream(self.index, question, model=self.model, k=k, history=list(self.history),
                               query=query, **filters, **self._prompt_opts)
        return self._record(stream, question, rewrite_ms)

    def _record(self, stream: Iterator, question: str, rewrite_ms: float) -> Iterator[str | Answer]:
        for item in stream:
            if isinstance(item, Answer):
                timings = dict(item.timings_ms)
                timings["rewrite"] = rewrite_ms
                timings["total"] = timings.get("total", 0.0) + rewrite_ms
                item = replace(item, timings_ms=timings)
                self.history.append((question, item))
                self._trim()
            yield item

    def _trim(self) -> None:
        def cost(turn: tuple[str, Answer]) -> int:
            return count_tokens(turn[0]) + count_tokens(turn[1].text)

        total = sum(cost(t) for t in self.history)
        # the latest turn stays even when it alone is over budget: the next follow-up leans on it
        while len(self.history) > 1 and total > self.history_tokens:
            total -= cost(self.history.pop(0))

    def __repr__(self) -> str:
        return f"Chat(model={self.model.model_id!r}, turns={len(self.history)})"
