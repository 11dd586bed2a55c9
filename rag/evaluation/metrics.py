"""Evaluation metrics as pure functions; every definition is in METRIC_DEFINITIONS (the report prints them).

Scoring is two-step: `score_question` turns one question plus what the system returned into a JSON-ready row
with per-question values, and `aggregate` turns rows into the run's metrics. Per-question scores (Hits, MRR, MAP,
EM, F1, citation precision/recall) are averaged over the questions where they are defined; item rates
(verbatim citations, supported sentences) are pooled over all items, because a question with ten citations
should weigh more there than one with a single citation. A metric with nothing to measure is None, never 0.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from rag.schema import Answer, Citation, Hit

from .accuracy import answer_correct, paper_correct
from .testsets import Question

MAX_RANK = 10
CURVE_KS = tuple(range(1, MAX_RANK + 1))
LATENCY_STAGES = ("retrieve", "generate", "total")
YES_NO = ("yes", "no")

_FACT = "fact-level retrieval (MultiHop-RAG's scoring; answerable questions with evidence only)"
_ART = "article-level retrieval (answerable questions with evidence only)"

METRIC_DEFINITIONS: dict[str, str] = {
    **{f"hits@{k}": f"{_FACT}: share of questions with at least one relevant chunk in the top {k}. A chunk is "
       "relevant when, after deleting all whitespace (spaces, newlines, tabs) from both, it contains any gold "
       "evidence fact as a substring; a fact split across two chunks is found in neither."
       for k in CURVE_KS},
    "mrr@10": f"{_FACT}: mean of 1/rank of the first relevant chunk in the top 10 (0 when none).",
    "map@10": f"{_FACT}: mean over questions of sum over ranks r <= 10 of (number of gold facts first covered by "
              "the chunk at rank r) / r, divided by min(number of gold facts, 10).",
    **{f"article_hits@{k}": f"{_ART}: share of questions with a chunk in the top {k} whose article title equals "
       "the title of a gold evidence item (whitespace-collapsed, case-sensitive)." for k in CURVE_KS},
    "article_mrr@10": f"{_ART}: mean of 1/rank of the first chunk from a gold article in the top 10.",
    "article_map@10": f"{_ART}: like map@10 over the distinct gold articles: sum over ranks r <= 10 of (gold "
                      "articles first reached at r) / r, divided by min(number of distinct gold articles, 10).",
    "exact_match": "answerable questions: 1 when the normalised answer equals a normalised accepted answer. "
                   "Normalised = lowercased, punctuation deleted, articles a/an/the dropped, whitespace collapsed. "
                   "When the accepted answer is yes/no, the answer's yes/no (its first word if that is yes or "
                   "no, else the only one of yes/no it contains) must equal it. Refusals score 0.",
    "f1": "answerable questions: SQuAD token F1 between the normalised answer and the best accepted answer "
          "(yes/no gold: 1 or 0 as for exact_match). Refusals score 0.",
    "contains_answer": "answerable questions: 1 when the normalised answer contains a normalised accepted answer "
                       "as a whole-word sequence (yes/no gold: as for exact_match). Refusals score 0.",
    "answer_accuracy": "all questions with accepted answers, and unanswerable ones: a yes/no accepted answer "
                       "counts only when the answer LEADS with the right Yes/No; otherwise an accepted answer must "
                       "appear in the answer (case-insensitive substring); an unanswerable question counts when "
                       "refused; a refused answerable question counts as wrong (issue 13's rule).",
    "paper_accuracy": "MultiHop-RAG's qa_evaluate.py rule: the lower-cased answer and accepted answer share at least "
                      "one whitespace-separated token (punctuation around tokens dropped); a refusal is read as 'Insufficient information.' (the "
                      "paper's gold answer for unanswerable questions).",
    "null_refusal_rate": "share of unanswerable questions that were refused (same as refusal_recall).",
    "citation_verbatim_rate": "all citations of all answers: share whose excerpt is non-empty and equals "
                              "article.text[start:end] exactly. Must be 1.0.",
    "citation_precision": "questions with gold evidence and at least one citation: share of citations that "
                          "match a gold evidence passage, averaged over questions. Match = with all whitespace "
                          "deleted one contains the other, or their content-word sets (normalised words minus "
                          "stop words) overlap by |A & B| / min(|A|, |B|) >= 0.5.",
    "citation_recall": "answerable questions with gold evidence: share of gold evidence passages matched by at "
                       "least one citation (match as for citation_precision), averaged over questions; a "
                       "refusal scores 0.",
    "supported_sentence_rate": "all sentences of all answers that are not refusals: share marked supported "
                               "(AnswerSentence.supported).",
    "refusal_precision": "share of refusals that were on unanswerable questions.",
    "refusal_recall": "share of unanswerable questions that were refused.",
    "false_refusal_rate": "share of answerable questions that were refused (lower is better).",
    **{f"latency_{stage}_{p}_ms": f"{p[1:]}th percentile (linear interpolation) of the per-question "
       f"'{stage}' time in milliseconds (lower is better)." for stage in LATENCY_STAGES for p in ("p50", "p95")},
    "n_questions": "questions evaluated.",
    "n_answerable": "answerable questions evaluated.",
    "n_unanswerable": "unanswerable questions evaluated.",
    "n_retrieval_scored": "questions scored for retrieval (answerable, with gold evidence).",
    "n_citations": "citations returned in all answers.",
    "n_errors": "questions whose model call failed (scored as wrong answers).",
}

LOWER_IS_BETTER = frozenset(["false_refusal_rate", *(n for n in METRIC_DEFINITIONS if n.startswith("latency_"))])

# Function words carry no evidence; without dropping them any two English sentences would "overlap".
_STOP_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being has have had do "
    "does did it its this that these those he she they we you i his her their our your him them us not no so "
    "than then there here which who whom what when where why how will would can could should may might must "
    "also about into over after before said says".split()
)
_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# --- retrieval ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RankingScore:
    relevant_ranks: tuple[int, ...]   # 1-based ranks (<= MAX_RANK) of the relevant hits
    reciprocal_rank: float
    average_precision: float
    n_gold: int

    def hits_at(self, k: int) -> float:
        return 1.0 if self.relevant_ranks and self.relevant_ranks[0] <= k else 0.0


def strip_ws(text: str) -> str:
    """Delete every whitespace character, so line wrapping and chunk boundaries inside a fact do not matter."""
    return "".join(text.split())


def score_facts(chunk_texts: Sequence[str], facts: Sequence[str]) -> RankingScore | None:
    """Fact-level Hits/MRR/MAP for one ranked list, exactly as MultiHop-RAG's retrieval_evaluate.py counts them.

    The denominator counts the fact list as given (duplicates included), as the paper's code does."""
    gold = [g for g in (strip_ws(f) for f in facts) if g]
    if not gold:
        return None
    ranks, covered, ap = [], set(), 0.0
    for rank, text in enumerate(chunk_texts[:MAX_RANK], start=1):
        chunk = strip_ws(text)
        inside = {g for g in gold if g in chunk}
        if not inside:
            continue
        ranks.append(rank)
        ap += len(inside - covered) / rank
        covered |= inside
    return RankingScore(tuple(ranks), 1.0 / ranks[0] if ranks else 0.0, ap / min(len(gold), MAX_RANK), len(gold))


def score_articles(hit_titles: Sequence[str], evidence_titles: Sequence[str]) -> RankingScore | None:
    """Article-level Hits/MRR/MAP: a hit is relevant when its article is one of the gold evidence articles."""
    gold = {" ".join(t.split()) for t in evidence_titles} - {""}
    if not gold:
        return None
    ranks, covered, ap = [], set(), 0.0
    for rank, title in enumerate(hit_titles[:MAX_RANK], start=1):
        title = " ".join(title.split())
        if title not in gold:
            continue
        ranks.append(rank)
        if title not in covered:
            ap += 1.0 / rank
            covered.add(title)
    return RankingScore(tuple(ranks), 1.0 / ranks[0] if ranks else 0.0, ap / min(len(gold), MAX_RANK), len(gold))


# --- answers -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnswerScore:
    exact_match: float
    f1: float
    contains_answer: float


def normalize_answer(text: str) -> str:
    """SQuAD normalisation, extended to Unicode punctuation (news text is full of curly quotes and dashes)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT and not unicodedata.category(ch).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", text).split())


def yes_no(text: str) -> str | None:
    """'yes' or 'no' when the text clearly says one of them: its first word, else the only one it contains."""
    tokens = normalize_answer(text).split()
    if not tokens:
        return None
    if tokens[0] in YES_NO:
        return tokens[0]
    present = {t for t in tokens if t in YES_NO}
    return present.pop() if len(present) == 1 else None


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_answer(prediction: str, accepted: Iterable[str]) -> AnswerScore | None:
    """Best EM / F1 / contains over the accepted answers; None when there is no usable accepted answer."""
    golds = [g for g in accepted if normalize_answer(g)]
    if not golds:
        return None
    pred_norm = normalize_answer(prediction)
    pred_yn = yes_no(prediction)
    em = f1 = contains = 0.0
    for gold in golds:
        gold_norm = normalize_answer(gold)
        if gold_norm in YES_NO:
            value = float(pred_yn == gold_norm)
            em, f1, contains = max(em, value), max(f1, value), max(contains, value)
            continue
        em = max(em, float(pred_norm == gold_norm))
        f1 = max(f1, token_f1(prediction, gold))
        contains = max(contains, float(f" {gold_norm} " in f" {pred_norm} "))
    return AnswerScore(em, f1, contains)


# --- citations ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CitationScore:
    verbatim: tuple[bool, ...]        # per citation, in the answer's order
    matches_evidence: tuple[bool, ...]
    precision: float | None           # None without citations or without gold evidence
    recall: float | None              # None without gold evidence


def is_verbatim(citation: Citation) -> bool:
    text = citation.article.text
    return (
        bool(citation.excerpt)
        and 0 <= citation.start <= citation.end <= len(text)
        and text[citation.start:citation.end] == citation.excerpt
    )


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in _STOP_WORDS}


def excerpt_matches(excerpt: str, evidence_text: str) -> bool:
    """Does a cited excerpt support a gold passage? (definition in METRIC_DEFINITIONS['citation_precision'])"""
    a, b = strip_ws(excerpt), strip_ws(evidence_text)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    wa, wb = _content_words(excerpt), _content_words(evidence_text)
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) >= 0.5


def score_citations(citations: Sequence[Citation], evidence_texts: Sequence[str]) -> CitationScore:
    verbatim = tuple(is_verbatim(c) for c in citations)
    matches = tuple(any(excerpt_matches(c.excerpt, e) for e in evidence_texts) for c in citations)
    precision = sum(matches) / len(citations) if citations and evidence_texts else None
    recall = None
    if evidence_texts:
        covered = sum(any(excerpt_matches(c.excerpt, e) for c in citations) for e in evidence_texts)
        recall = covered / len(evidence_texts)
    return CitationScore(verbatim, matches, precision, recall)


# --- latency -----------------------------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --- one question ------------------------------------------------------------------------------------------------

def score_question(
    question: Question,
    hits: Sequence[Hit],
    answer: Answer | None,
    timings_ms: Mapping[str, float],
    *,
    error: str | None = None,
) -> dict[str, Any]:
    """One JSON-ready results row. `answer` is None in retrieval-only runs. Ranks are list positions (1-based)."""
    use_evidence = question.answerable and bool(question.evidence)
    facts = score_facts([h.text for h in hits], [e.text for e in question.evidence]) if use_evidence else None
    arts = score_articles([h.article.title for h in hits], [e.title for e in question.evidence]) if use_evidence \
        else None
    m: dict[str, Any] = {}
    for prefix, score in (("", facts), ("article_", arts)):
        for k in CURVE_KS:
            m[f"{prefix}hits@{k}"] = score.hits_at(k) if score else None
        m[f"{prefix}mrr@10"] = score.reciprocal_rank if score else None
        m[f"{prefix}map@10"] = score.average_precision if score else None

    row: dict[str, Any] = {
        "id": question.id,
        "question": question.question,
        "type": question.qtype,
        "answerable": question.answerable,
        "position": question.position,
        "retrieved": [
            {"rank": i, "chunk_id": h.chunk_id, "article_id": h.article.id, "title": h.article.title,
             "score": h.score}
            for i, h in enumerate(hits, start=1)
        ],
        "relevant_ranks": list(facts.relevant_ranks) if facts else [],
        "article_relevant_ranks": list(arts.relevant_ranks) if arts else [],
        "answer": None,
        "refused": None,
        "citations": [],
        "metrics": m,
        "timings_ms": {k: float(v) for k, v in timings_ms.items()},
    }
    if error is not None:
        row["error"] = error
    if answer is None:
        return row

    row["answer"], row["refused"] = answer.text, answer.refused
    cites = score_citations(answer.citations, [e.text for e in question.evidence])
    row["citations"] = [
        {"n": c.n, "article_id": c.article.id, "title": c.article.title, "excerpt": c.excerpt,
         "start": c.start, "end": c.end, "verbatim": v, "matches_evidence": hit}
        for c, v, hit in zip(answer.citations, cites.verbatim, cites.matches_evidence)
    ]
    graded = score_answer("" if answer.refused else answer.text, question.answers) if question.answerable else None
    if question.answers or not question.answerable:
        m["answer_accuracy"] = float(answer_correct(answer.text, answer.refused, question.answers,
                                                    question.answerable))
        m["paper_accuracy"] = float(paper_correct(answer.text, answer.refused, question.answers,
                                                  question.answerable))
    m["exact_match"] = graded.exact_match if graded else None
    m["f1"] = graded.f1 if graded else None
    m["contains_answer"] = graded.contains_answer if graded else None
    m["citation_precision"] = cites.precision if question.evidence else None
    m["citation_recall"] = (0.0 if answer.refused else cites.recall) if use_evidence else None
    m["n_citations"] = len(answer.citations)
    m["n_verbatim"] = sum(cites.verbatim)
    sentences = () if answer.refused else answer.sentences
    m["n_sentences"] = len(sentences)
    m["n_supported"] = sum(1 for s in sentences if s.supported)
    return row


# --- aggregation -------------------------------------------------------------------------------------------------

def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Run-level metrics from results rows; names and meanings are those of METRIC_DEFINITIONS."""
    out: dict[str, Any] = {}
    per_q = [r["metrics"] for r in rows]
    for prefix in ("", "article_"):
        for name in [f"hits@{k}" for k in CURVE_KS] + ["mrr@10", "map@10"]:
            out[prefix + name] = _mean(m.get(prefix + name) for m in per_q)
    for name in ("answer_accuracy", "paper_accuracy", "exact_match", "f1", "contains_answer", "citation_precision",
                 "citation_recall"):
        out[name] = _mean(m.get(name) for m in per_q)
    out["citation_verbatim_rate"] = _ratio(sum(m.get("n_verbatim", 0) for m in per_q),
                                           sum(m.get("n_citations", 0) for m in per_q))
    out["supported_sentence_rate"] = _ratio(sum(m.get("n_supported", 0) for m in per_q),
                                            sum(m.get("n_sentences", 0) for m in per_q))

    answered = [r for r in rows if r.get("refused") is not None]   # empty in retrieval-only runs
    refused_unans = sum(1 for r in answered if r["refused"] and not r["answerable"])
    refused_ans = sum(1 for r in answered if r["refused"] and r["answerable"])
    n_unans = sum(1 for r in answered if not r["answerable"])
    n_ans = sum(1 for r in answered if r["answerable"])
    out["refusal_precision"] = _ratio(refused_unans, refused_unans + refused_ans)
    out["refusal_recall"] = _ratio(refused_unans, n_unans)
    out["false_refusal_rate"] = _ratio(refused_ans, n_ans)
    out["null_refusal_rate"] = out["refusal_recall"]

    for stage in LATENCY_STAGES:
        times = [float(r["timings_ms"][stage]) for r in rows if r.get("timings_ms", {}).get(stage) is not None]
        out[f"latency_{stage}_p50_ms"] = percentile(times, 50)
        out[f"latency_{stage}_p95_ms"] = percentile(times, 95)

    out["n_questions"] = len(rows)
    out["n_answerable"] = sum(1 for r in rows if r["answerable"])
    out["n_unanswerable"] = len(rows) - out["n_answerable"]
    out["n_retrieval_scored"] = sum(1 for m in per_q if m.get("hits@1") is not None)
    out["n_citations"] = sum(m.get("n_citations", 0) for m in per_q)
    out["n_errors"] = sum(1 for r in rows if r.get("error"))
    return out


def aggregate_by_type(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    types = sorted({r["type"] for r in rows})
    return {t: aggregate([r for r in rows if r["type"] == t]) for t in types}
