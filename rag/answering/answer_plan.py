"""What kind of answer a question wants, read from the question's own words.

    plan("Did both The Verge and TechCrunch report that X?")   -> kind "yesno", parts per clause
    plan("Which company did TechCrunch say ...?")               -> kind "entity", answer_type "organisation"
    plan("What did Bulgaria claim about Russia?")               -> kind "open"

The rules are English grammar, not a data set: a yes/no question opens with an auxiliary verb (possibly after a
leading phrase that ends in a comma, "Between A and B, was there ..."); an entity question opens with who/which/
what + a noun that says what kind of thing is wanted; a question joined by "while", "whereas", "and did ..."
has one part per clause, and each part needs its own evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

YESNO = "yesno"
ENTITY = "entity"
OPEN = "open"

PERSON, ORGANISATION, PLACE, NUMBER, DATE, THING = "person", "organisation", "place", "number", "date", "thing"

_AUX = ("is are was were am do does did has have had can could will would should shall may might must "
        "isn't aren't wasn't weren't doesn't don't didn't hasn't haven't hadn't can't couldn't won't wouldn't "
        "shouldn't").split()
_AUX_RE = re.compile(r"^(?:" + "|".join(re.escape(a) for a in _AUX) + r")\b", re.IGNORECASE)
_WH_RE = re.compile(r"^(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)
# A leading phrase before the main clause: "Between A and B, was ...", "According to X, did ...".
_LEAD_CLAUSE = re.compile(r",\s+(?=(?:" + "|".join(re.escape(a) for a in _AUX) + r"|who|whom|whose|what|which|when|"
                          r"where|how)\b)", re.IGNORECASE)

# Head nouns after which/what that say what sort of entity is wanted. General English vocabulary.
_TYPE_NOUNS = {
    PERSON: """person people individual individuals man woman men women who whom figure personality player players
        athlete athletes ceo founder cofounder co-founder executive executives chief leader leaders president
        minister secretary official officials politician candidate coach manager owner investor entrepreneur
        celebrity singer artist actor actress author writer journalist reporter spokesperson spokesman spokeswoman
        director judge lawyer attorney quarterback striker pitcher driver star member boss head chair chairman
        chairwoman commissioner governor mayor senator lawmaker prosecutor officer soldier pilot astronaut scientist
        researcher doctor chef host presenter comedian rapper musician designer billionaire filmmaker producer
        guard forward defender midfielder goalkeeper keeper winger receiver linebacker shortstop catcher batter
        bowler boxer fighter golfer swimmer runner cyclist jockey wrestler captain girl boy child teenager hostage
        victim prisoner suspect""".split(),
    ORGANISATION: """company companies organization organisation organizations firm firms business businesses
        corporation startup start-up brand team teams club clubs group agency agencies institution bank exchange
        platform platforms network networks outlet outlets publication newspaper newspapers paper magazine
        broadcaster channel party union league body regulator authority government department ministry court
        university school studio label developer maker manufacturer retailer chain service app entity
        establishments establishment franchise""".split(),
    PLACE: "country countries city cities town state region place location nation continent venue stadium".split(),
    DATE: "date day year month time week season".split(),
    NUMBER: """score scores price prices cost costs value valuation rate percentage share amount total number age
        record budget income revenue revenues earnings profit profits loss losses salary fee fees sum figure margin
        population capacity attendance temperature distance height weight speed cagr growth""".split(),
}
_NOUN_TYPE = {w: t for t, ws in _TYPE_NOUNS.items() for w in ws}

# Where one clause of a compound question ends and the next begins.
_SPLIT = re.compile(
    r",?\s+(?:while|whereas|but|yet|and\s+(?:also\s+)?(?=(?:does|did|do|is|was|are|were|has|have|had)\b)|"
    r"in\s+contrast\s+to|compared\s+(?:to|with)|as\s+opposed\s+to|unlike|before|after|and\s+then|"
    r"whilst)\s+", re.IGNORECASE)
_TEMPORAL = re.compile(r"\b(before|after|earlier than|later than|prior to|following|subsequent(?:ly)?|then)\b",
                       re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\b(.+?),?\s+and\s+(?=the\b|a\b|an\b|[A-Z'\"])(.+),\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerPlan:
    kind: str                         # YESNO, ENTITY or OPEN
    answer_type: str = THING          # for ENTITY: PERSON, ORGANISATION, PLACE, NUMBER, DATE or THING
    parts: tuple[str, ...] = ()       # the clauses a yes/no question joins; each needs its own evidence
    order: str = ""                   # "before" / "after" when the question asks whether one thing came first
    choices: tuple[str, ...] = ()     # "consistent or inconsistent?": the alternatives offered, in order
    head: str = ""                    # the noun that names the wanted entity ("company", "newspaper")


def _main_clause(question: str) -> str:
    """The question from its main verb on: 'Between A and B, was there X?' -> 'was there X?'."""
    q = _LEAD_PREP.sub("", question.strip())
    if _AUX_RE.match(q) or _WH_RE.match(q):
        return q
    m = _LEAD_CLAUSE.search(q)
    return q[m.end():] if m else q


# "In which state ...", "By what score ...": a preposition before the question word does not change the kind
_LEAD_PREP = re.compile(r"^(?:in|at|on|by|for|from|to|against|into|until|since|during|with|of|after|before|"
                        r"roughly|approximately|about)\s+(?=(?:which|what|how|whom|whose)\b)", re.IGNORECASE)


def question_kind(question: str) -> str:
    main = _main_clause(question)
    if _WH_RE.match(main):
        return ENTITY if _entity_head(main) is not None else OPEN
    if _AUX_RE.match(main):
        return YESNO
    return OPEN


def _entity_head(main: str) -> tuple[str, str] | None:
    """(answer type, head noun) for questions that ask for a name or number; None for open questions."""
    low = main.lower()
    if re.match(r"how (many|much|long|large|big|old|far|high|tall|fast|often)\b|what (?:is|was) the (?:number|total|amount|percentage|share)\b|"
                r"what (?:percentage|share|proportion|amount|number)\b", low):
        return NUMBER, "number"
    m = re.match(r"when\b|(?:what|which) (date|day|year|month)\b", low)
    if m:
        return DATE, m.group(1) or "date"
    if re.match(r"where\b", low):
        return PLACE, "place"
    if re.match(r"who(?:m|se)?\b", low):
        # "Who is the New York judge who ...": the noun says which person, and is looked for beside the answer
        m = re.match(r"who\s+(?:is|was|are|were)\s+(?:the|a|an)\s+((?:[\w'’-]+\s+){0,4}?)([a-z][\w-]*)"
                     r"(?=\s+(?:who|that|whose|which|in|at|of|for|behind)\b|\s*[,?])", main, re.IGNORECASE)
        noun = m.group(2).lower() if m else ""
        return PERSON, (noun if noun and _noun_type(noun)[0] == PERSON else "person")
    # which X / what X / what is the name of the X: the noun phrase runs until a verb, a comma or a proper name
    if not re.match(r"(?:which|what)\b", low):
        return None
    m = re.match(r"(?:which|what)\s*(?:is\s+the\s+name\s+of\s+(?:the|a)\s+|(?:type|kind|sort)s?\s+of\s+|"
                 r"(?:is|was)\s+the\s+)?", main, re.IGNORECASE)
    words: list[str] = []
    toks = main[m.end():].split()[:6]
    while toks and toks[0][0].isupper() and low.startswith("which"):
        toks = toks[1:]       # "Which Twins shortstop ...": a proper name modifies the head noun
    for tok in toks:
        w = tok.strip(",;:?'\"").lower()
        if w in ("the", "a", "an", "his", "her", "its", "their", "it", "he", "she", "they"):
            if len(words) > 1:
                words.pop()   # "which film launched the ...": the word before a new noun phrase is a verb
            break
        if not w or tok[0].isupper() or w in _AUX or w in ("that", "who", "which", "whose", "to", "in", "of", "for"):
            break
        words.append(w)
        if tok.endswith((",", ";", ":")):
            break
    for w in reversed(words):          # the head noun ends the phrase: "social media platform"
        t, base = _noun_type(w)
        if t:
            return t, base
    if words and low.startswith("which "):
        return THING, words[0]
    return None


def _noun_type(word: str) -> tuple[str | None, str]:
    """The entity type a (possibly plural or possessive) noun asks for, and its singular: "bodies" ->
    (organisation, "body"), "artist's" -> (person, "artist")."""
    w = re.sub(r"['’]s?$", "", word)
    for base in (w, w[:-3] + "y" if w.endswith("ies") else w, w[:-2] if w.endswith("es") else w, w.rstrip("s")):
        if base in _NOUN_TYPE:
            return _NOUN_TYPE[base], base
    return None, w


def _choices(main: str) -> tuple[str, ...]:
    """'... remained consistent or inconsistent?' -> ('consistent', 'inconsistent'): single-word alternatives
    only, so 'did X happen, or did Y?' stays a yes/no question."""
    m = re.search(r"\b([\w-]+)\s+or\s+([\w-]+)\s*\??\s*$", main.strip())
    if not m:
        return ()
    a, b = m.group(1).lower(), m.group(2).lower()
    if a in _AUX or b in _AUX or a in ("and", "or", "not") or b in ("not", "no"):
        return ()
    return (m.group(1), m.group(2))


def split_parts(question: str) -> tuple[str, ...]:
    main = _main_clause(question)
    lead = question.strip()[: len(question.strip()) - len(main)]
    m = _BETWEEN.search(lead + ",")
    if m and len(m.group(1).split()) >= 2 and len(m.group(2).split()) >= 2:
        # "Between A and B, was there X?": each of A and B must speak to X
        body = main.strip(" ?")
        return (f"{m.group(1).strip(' ,')} {body}", f"{m.group(2).strip(' ,')} {body}")
    pieces = [p.strip(" ,;?") for p in _SPLIT.split(main)]
    return tuple(p for p in pieces if len(p.split()) >= 3) or (main.strip(" ?"),)


def plan(question: str) -> AnswerPlan:
    kind = question_kind(question)
    main = _main_clause(question)
    order = ""
    m = _TEMPORAL.search(main)
    if m and kind == YESNO:
        w = m.group(1).lower()
        order = "before" if w in ("before", "earlier than", "prior to") else "after"
    if kind == ENTITY:
        atype, head = _entity_head(main) or (THING, "")
        return AnswerPlan(ENTITY, atype, split_parts(question), order, (), head)
    if kind == YESNO:
        return AnswerPlan(YESNO, THING, split_parts(question), order, _choices(main))
    return AnswerPlan(OPEN, THING, split_parts(question))


__all__ = ["AnswerPlan", "plan", "question_kind", "split_parts", "YESNO", "ENTITY", "OPEN", "PERSON",
           "ORGANISATION", "PLACE", "NUMBER", "DATE", "THING"]
