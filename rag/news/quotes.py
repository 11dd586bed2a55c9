"""Who said what: direct quotes and reported speech found in an article's cleaned text, with their speakers.

Pure functions over text; no model. `extract_quotes(text)` returns `Quote`s whose offsets point into `text`
(`text[q.start:q.end] == q.quote`, `text[q.attr_start:q.attr_end]` is the attribution clause). The rules, in the
order they are tried for each direct quote (text in quotation marks of six words or more, or shorter when a speech
verb is attached to it):

1. an attribution right after the quote: `"...," Mr Mitov told the Times.` / `"...," said Jane Doe, the CEO.`
2. one right before it in the same sentence: `Yvette Cooper echoed the warning, adding: "..."`
3. another attribution in the same paragraph (`"A." he said. "B."`: B is his too)
4. a quote paragraph with no attribution continues the speaker of the paragraph before (within two paragraphs)

Reported speech: `Daniel Mitov, Bulgaria's equivalent of the Home Secretary, said his government has evidence ...`,
`..., the company said.` and `according to the Home Office` give the clause as the quote.

Speakers are resolved to the fullest name the article uses ("Mr Mitov" -> "Daniel Mitov"); "he", "she" and "the
minister" resolve to the last person mentioned before them (whose role holds "minister", for the latter). A role
is what the article writes next to the name: an apposition (`Daniel Mitov, Bulgaria's equivalent of the Home
Secretary,`) or the title before it (`Foreign Secretary Yvette Cooper`, `OpenAI CEO Sam Altman`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .quote_text import _mask, paragraphs, quote_spans, sentences
from .speakers import (_HON, _NOT_NAMES, _PARTICLE, _PRONOUN, _ROLE_WORDS, _VERB, Person, _clean_run,
                       _Registry, _resolve, _scan_people)

QUOTES_VERSION = 2          # stored with each scanned article: a change re-extracts on the next `rag index`
MIN_QUOTE_WORDS = 6         # shorter quoted text is a scare quote ("gateway to Europe") unless a verb claims it

_AUX = r"(?:(?:has|have|had|was|were|is|also|later|then|previously|once|had\s+also|has\s+also|would|will)\s+)*"


@dataclass(frozen=True)
class Quote:
    """One quotation or reported claim. `quote` is verbatim `text[start:end]`; the attribution (the clause that
    names the speaker and the verb) is `text[attr_start:attr_end]`; the role, when stated, is at
    `text[role_start:role_end]` (-1 when not)."""

    speaker: str
    role: str
    organisation: str
    quote: str
    start: int
    end: int
    attr_start: int
    attr_end: int
    kind: str = "direct"          # "direct" (in quotation marks) or "reported"
    verb: str = ""
    addressee: str = ""           # "the Times" in "Mr Mitov told the Times"
    role_start: int = -1
    role_end: int = -1

    def to_json(self) -> dict:
        return {"speaker": self.speaker, "role": self.role, "organisation": self.organisation, "quote": self.quote,
                "start": self.start, "end": self.end, "kind": self.kind, "verb": self.verb,
                "addressee": self.addressee, "attribution": [self.attr_start, self.attr_end]}




# ---- attribution patterns ---------------------------------------------------------------------------------------
_NAMEW = r"(?:[A-Z][\w'’&-]*\w|[A-Z]\.(?:[A-Z]\.)*|[A-Z])"
_ROLE_LOW = r"(?:" + "|".join(sorted(_ROLE_WORDS, key=len, reverse=True)) + r")"
_NAMED = (rf"(?:{_NAMEW}(?:'s|’s)?\s+)*(?:(?:[a-z-]+\s+){{0,2}}(?i:{_ROLE_LOW})(?:\s+and\s+(?i:{_ROLE_LOW}))*\s+)?"
          rf"(?:{_HON}\.?\s+)?{_NAMEW}"
          rf"(?:\s+(?:{_PARTICLE}\s+)?{_NAMEW}){{0,3}}")
_SUBJ = (rf"(?P<subj>{_NAMED}|{_PRONOUN}|(?:the|The|a|A|an|An|one|One|its|Its|his|His|her|Her|their|Their)\s+"
         r"(?:[a-z-]+\s+){0,3}?[a-z-]+)")
_ROLE_TAIL = r"(?:,\s+[^,;:\"“”]{2,110}?,)?"
# after a quote:  ," Mr Mitov told the Times.   ,' a minister has warned.   ," said Jane Doe, the CEO.
_AFTER_SV = re.compile(rf"[\s,]*{_SUBJ}{_ROLE_TAIL}\s+{_AUX}(?P<verb>{_VERB})\b(?P<rest>[^.!?\"“”]*)")
_AFTER_VS = re.compile(rf"[\s,]*(?P<verb>{_VERB})\s+{_SUBJ}(?P<rest>[^.!?\"“”]*)")
# before a quote, within its sentence: Cooper echoed the warning, adding: "   /   Smith said: "   / He told X that "
_BEFORE = re.compile(rf"(?P<verb>{_VERB})\b(?P<rest>[^.!?\"“”]{{0,80}}?)[,:]?\s*(?:that\s+)?$")
# a sentence that opens with its verb, the speaker after it: Notes Greer, "that might have been a mistake."
_BEFORE_VS = re.compile(rf"[\s\"“]*(?P<verb>(?i:{_VERB}))\s+{_SUBJ}\s*[,:]\s*$")
# a name's word: "The St. Thomas Source", "the U.S. Senate"; any other word ends at its full stop ("told Reuters. He")
_TO_WORD = r"(?:(?:St|Mt|Ft|Jr|Sr)\.|(?:[A-Z]\.){2,}|[A-Z][\w&'’-]*)"
_TO_NAME = rf"(?:the\s+|The\s+)?{_TO_WORD}(?:\s+{_TO_WORD}){{0,4}}"
_ADDRESSEE = re.compile(rf"^\s*(?P<to>{_TO_NAME}|reporters|journalists)")
_SAID_TO = re.compile(rf"\b(?:to|in an interview with|speaking to)\s+({_TO_NAME})")
# the subject just before a verb: "Dodgers manager Dave Roberts", "Daniel Mitov, Bulgaria's equivalent of ..., "
_SUBJ_END = re.compile(rf"{_SUBJ}{_ROLE_TAIL}\s+{_AUX}$")


def _addressee(verb: str, rest: str) -> str:
    if verb not in ("told", "tells", "telling"):
        m = _SAID_TO.search(rest)
        return m.group(1) if m and verb in ("said", "says", "wrote", "explained") else ""
    m = _ADDRESSEE.match(rest)
    return m.group("to").strip() if m else ""


def _subject_of(text: str, s: int, verb_at: int) -> tuple[str, int]:
    """The subject of the clause text[s:verb_at]: the phrase right before the verb (an apposition between them
    allowed), else the clause's first name."""
    clause = text[s:verb_at]
    m = _SUBJ_END.search(clause, max(0, len(clause) - 200))
    while m is not None:
        cs, ce = _clean_run(clause, m.start("subj"), m.end("subj"))
        if ce > cs and clause[cs:ce].split()[0].lower() not in _NOT_NAMES - {"he", "she", "they", "the", "a", "an",
                                                                          "his", "her", "their", "its"}:
            return clause[cs:ce], s + cs
        if ce > cs and clause[cs:ce].lower() in ("he", "she", "they"):
            return clause[cs:ce], s + cs
        nxt = m.start("subj") + 1
        m = _SUBJ_END.search(clause, nxt) if nxt < len(clause) else None
        if m is not None and m.start("subj") == 0:
            break
    return "", s


def extract_quotes(text: str) -> list[Quote]:
    """All quotes and reported claims of an article with their speakers (unresolved ones are dropped)."""
    reg = _scan_people(text)
    out: list[Quote] = []
    last: tuple[Person, int, int, int] | None = None     # speaker, paragraph number, attribution span
    for pi, (ps, pe) in enumerate(paragraphs(text)):
        spans = quote_spans(text, ps, pe)
        masked = _mask(text, spans, ps, pe)
        sents = sentences(text, ps, pe, masked)
        par_quotes: list[tuple[int, int, bool]] = []
        attributed: list[tuple[int, int, Person, tuple[int, int], str, str]] = []
        for qs, qe, closed in spans:
            sent = next(((a, b) for a, b in sents if a <= qs - 1 < b or a <= qs < b), (ps, pe))
            prefer = attributed[-1][2] if attributed else (last[0] if last and last[1] == pi else None)
            if len(text[qs:qe].split()) < MIN_QUOTE_WORDS:
                # a scare quote or a phrase inside reported speech ("the gateway to Europe"), unless a speaker
                # follows it at once: 'The pathogen is "a funky bacterium," said Dr. David Needle'
                found = _attribute_direct(text, masked, reg, qs, qe, closed, (qe, qe), pe, prefer) \
                    if closed and text[qe - 1:qe] in ",!?" and len(text[qs:qe].split()) >= 2 else None
                if found is not None:
                    attributed.append((qs, qe, *found))
                continue
            par_quotes.append((qs, qe, closed))
            found = _attribute_direct(text, masked, reg, qs, qe, closed, sent, pe, prefer)
            if found is not None:
                person, attr, verb, to = found
                attributed.append((qs, qe, person, attr, verb, to))
        # quotes of the paragraph without an attribution of their own take the paragraph's speaker, or continue
        # the speaker of the paragraph before ("...," she said. / "Second paragraph of her quote.")
        speakers = {a[2].name: a for a in attributed}
        for qs, qe, closed in par_quotes:
            if any(a[0] == qs for a in attributed):
                continue
            src = None
            if len(speakers) == 1:
                src = next(iter(speakers.values()))
            elif not speakers and last is not None and pi - last[1] <= 2 and _mostly_quote(text, qs, qe, ps, pe) \
                    and text.count(text[qs:qs + 60]) == 1:   # a repeated pull quote is not the last speaker's
                src = (qs, qe, last[0], (last[2], last[3]), "said", "")
            if src is not None:
                attributed.append((qs, qe, src[2], src[3], src[4], ""))
        for qs, qe, person, attr, verb, to in sorted(attributed, key=lambda a: a[0]):
            qs2, qe2 = _trim(text, qs, qe)
            if qe2 - qs2 < 8:
                continue
            out.append(_quote(person, text, qs2, qe2, attr, "direct", verb, to))
            last = (person, pi, attr[0], attr[1])
        for ss, se in sents:
            if any(a < se and ss < b and len(text[a:b].split()) >= MIN_QUOTE_WORDS for a, b, _ in spans):
                continue   # sentences with a real quotation are handled as direct quotes
            q = _reported(text, masked, reg, ss, se, last[0] if last and last[1] == pi else None)
            if q is not None and not any(o.start < q.end and q.start < o.end for o in out):
                out.append(q)
                last = (reg.person(q.speaker) or Person(q.speaker), pi, q.attr_start, q.attr_end)
    out = _merge_pullquotes(out)
    # speakers still unresolved ("a minister has warned") are no answer to "who said"
    return sorted((q for q in out if q.speaker[:1].isupper()), key=lambda q: q.start)


def _mostly_quote(text: str, qs: int, qe: int, ps: int, pe: int) -> bool:
    return (qe - qs) >= 0.7 * (pe - ps)


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and (text[e - 1].isspace() or text[e - 1] in ","):
        e -= 1
    return s, e


def _quote(p: Person, text: str, s: int, e: int, attr: tuple[int, int], kind: str, verb: str, to: str) -> Quote:
    return Quote(p.name, p.role, p.organisation, text[s:e], s, e, attr[0], attr[1], kind, verb, to, p.role_start,
                 p.role_end)


def _attribute_direct(text: str, masked: str, reg: _Registry, qs: int, qe: int, closed: bool,
                      sent: tuple[int, int], pe: int, prefer: Person | None):
    """(person, attribution span, verb, addressee) for the quote text[qs:qe], or None."""
    if closed:  # 1. right after the closing mark
        after = qe + 1
        limit = min(pe, after + 200)
        for pat in (_AFTER_SV, _AFTER_VS):
            m = pat.match(masked, after, limit)
            if m and not re.match(r"[\s,]*(?:and|or|but)\b", masked[after:m.start("subj")]):
                person = _resolve(reg, m.group("subj"), m.start("subj"), prefer, loose=True)
                if person is not None:
                    end = m.end()
                    while end < pe and text[end] in ".!?":
                        end += 1
                    start = m.start("subj") if pat is _AFTER_SV else m.start("verb")
                    return person, _trim(text, start, end), m.group("verb"), _addressee(
                        m.group("verb"), masked[m.end("verb"):min(pe, m.end("verb") + 120)])
    s0 = sent[0]  # 2. before the opening mark, in the same sentence
    m = _BEFORE_VS.match(masked[:max(s0, qs - 1)], s0)
    if m and m.group("verb")[0].isupper():
        person = _resolve(reg, m.group("subj"), m.start("subj"), prefer, loose=True)
        if person is not None:
            return person, (m.start("verb"), m.end("subj")), m.group("verb").lower(), ""
    m = _BEFORE.search(masked, s0, qs - 1)
    if m:
        verb_at = m.start("verb")
        subj, subj_at = _subject_of(masked, s0, verb_at)
        if not subj:
            subj, subj_at = _first_subject(masked, s0, verb_at)
        person = _resolve(reg, subj, subj_at, prefer) if subj else None
        if person is None and prefer is not None and m.group("verb").endswith("ing"):
            person = prefer
        if person is not None:
            return person, (subj_at if subj else verb_at, m.end("verb")), m.group("verb"), \
                _addressee(m.group("verb"), masked[m.end("verb"):qs])
    return None


def _first_subject(text: str, s: int, verb_at: int) -> tuple[str, int]:
    """'Foreign Secretary Yvette Cooper echoed the warning, adding:' -> the sentence's first name."""
    for m in re.finditer(_NAMED, text[s:verb_at]):
        cs, ce = _clean_run(text, s + m.start(), s + m.end())
        if ce > cs and text[cs:ce].split()[0].lower() not in _NOT_NAMES:
            return text[cs:ce], cs
    m = re.match(rf"\s*{_PRONOUN}\b", text[s:verb_at])
    return (m.group(0).strip(), s + m.end() - len(m.group(0).strip())) if m else ("", s)


_REPORTED = re.compile(rf"(?P<verb>{_VERB})\b(?P<to>\s+(?:the\s+|The\s+)?[A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*){{0,3}}"
                       r"|\s+(?:reporters|journalists|me|us|him|her|them))?(?:\s+on\s+\w+day)?\s+(?:that\s+)?")
_CLAIM_VERBS = frozenset("said says told tells warned warns claimed claims added adds argued argues insisted insists "
                         "stated states explained noted announced revealed suggested admitted confirmed denied "
                         "predicted believes believed alleged alleges declared maintained maintains stressed".split())
_ACCORDING = re.compile(r"\b[Aa]ccording to\s+(?P<subj>(?:the\s+)?[A-Z][\w&'’-]*(?:\s+(?:of\s+|for\s+)?"
                        r"[A-Z][\w&'’-]*){0,5})")
_TAIL_SAID = re.compile(rf",\s+{_SUBJ}{_ROLE_TAIL}\s+{_AUX}(?P<verb>said|says|told\s+[\w\s]+?|added|warned|claimed|agreed|"
                        r"noted|explained|argued|cautioned|advised|suggested|wrote|recalled|continued|believes)"
                        r"(?:\s+(?:on|in)\s+[^.]*)?[.!]?$")


def _reported(text: str, masked: str, reg: _Registry, ss: int, se: int, prefer: Person | None) -> Quote | None:
    """Reported speech in the sentence text[ss:se]: 'X, ROLE, said his government ...', '..., X said.',
    '... according to X.' The quote is the reported clause."""
    sent = masked[ss:se]
    m = _ACCORDING.search(sent)
    if m:
        person = _resolve(reg, m.group("subj"), ss + m.start("subj"), prefer)
        if person is not None:
            if m.start() < 3:          # According to X, CLAUSE.
                comma = text.find(",", ss + m.end(), se)
                qs, qe = _trim(text, comma + 1 if comma >= 0 else ss + m.end(), se)
            else:                       # CLAUSE, according to X.
                qs, qe = _trim(text, ss, ss + m.start())
            qe = qe - 1 if text[qe - 1:qe] in ".," else qe
            if len(text[qs:qe].split()) >= 4:
                return _quote(person, text, qs, qe, (ss + m.start(), ss + m.end()), "reported", "according to", "")
    m = _TAIL_SAID.search(sent)
    if m and m.start() > 20:
        person = _resolve(reg, m.group("subj"), ss + m.start("subj"), prefer)
        if person is not None:
            qs, qe = _trim(text, ss, ss + m.start())
            return _quote(person, text, qs, qe, _trim(text, ss + m.start("subj"), se), "reported",
                          m.group("verb").split()[0], "")
    for m in _REPORTED.finditer(sent):
        verb = m.group("verb")
        if verb not in _CLAIM_VERBS or m.end() >= len(sent) - 15:
            continue
        subj, subj_at = _subject_of(masked, ss, ss + m.start())
        if not subj:
            continue
        person = _resolve(reg, subj, subj_at, prefer)
        if person is None or (verb in ("told", "tells") and not m.group("to")):
            continue
        body_at = ss + m.end() if verb in ("told", "tells") or not m.group("to") else ss + m.start("to")
        body_at += re.match(r"\s*(?:that\s+)?", text[body_at:se]).end()
        qs, qe = _trim(text, body_at, se)
        qe = qe - 1 if text[qe - 1:qe] in ".!" else qe
        if len(text[qs:qe].split()) < 4:
            continue
        to = (m.group("to") or "").strip() if verb in ("told", "tells") else ""
        attr_end = ss + m.end() if to else ss + m.end("verb")
        return _quote(person, text, qs, qe, (subj_at, attr_end), "reported", verb, to)
    return None


def _merge_pullquotes(quotes: list[Quote]) -> list[Quote]:
    """A pull quote ("'...,' a minister has warned.") repeats a quote that is attributed by name further down:
    give it that speaker."""
    out = []
    named = [q for q in quotes if q.speaker[:1].isupper()]
    for q in quotes:
        key = _norm(q.quote)[:60]
        if not q.speaker[:1].isupper() and len(key) >= 30:
            better = next((n for n in named if key in _norm(n.quote)), None)
            if better is not None:
                q = replace(q, speaker=better.speaker, role=better.role, organisation=better.organisation,
                            role_start=better.role_start, role_end=better.role_end)
        out.append(q)
    return out


def _norm(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.lower()))


__all__ = ["Quote", "Person", "extract_quotes", "QUOTES_VERSION", "quote_spans", "paragraphs", "sentences"]
