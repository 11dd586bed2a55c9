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

QUOTES_VERSION = 1          # stored with each scanned article: a change re-extracts on the next `rag index`
MIN_QUOTE_WORDS = 6         # shorter quoted text is a scare quote ("gateway to Europe") unless a verb claims it

_VERBS = ("said says say told tells warned warns claimed claims added adds argued argues insisted insists stated "
          "states explained explains noted notes announced announces revealed reveals suggested suggests admitted "
          "admits confirmed confirms denied denies wrote writes tweeted posted predicted predicts estimated "
          "acknowledged acknowledges asked asks replied replies echoed echoes stressed stresses urged urges "
          "believes believed thinks thought alleged alleges commented comments declared declares emphasised "
          "emphasized maintained maintains recalled recalls continued continues concluded explained described "
          "describes called calls agreed agrees adding saying telling warning claiming arguing insisting noting "
          "explaining stating jokes joked quipped quips responded responds replied chimed advised advises "
          "recommended recommends cautioned cautions conceded concedes countered counters").split()
_VERB = r"(?:went on|chimed in|" + "|".join(sorted(set(_VERBS), key=len, reverse=True)) + r")"
_AUX = r"(?:(?:has|have|had|was|were|is|also|later|then|previously|once|had\s+also|has\s+also|would|will)\s+)*"
_HON = (r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Lord|Lady|Rev|Sen|Rep|Gov|Gen|Col|Capt|Lt|Sgt|Supt|Insp|Det|"
        r"Judge|Justice|President|Chancellor|Senator|Governor|Mayor|Coach|Prince|Princess|King|Queen|Pope)")
_CAP = r"(?:[A-Z][a-zà-ÿA-Z'’\-]*[a-zà-ÿA-Z]|[A-Z](?:\.[A-Z])+\.?|[A-Z]\.(?=\s+[A-Z][a-z]))"
_PARTICLE = r"(?:de|da|di|del|van|von|der|den|ten|ter|la|le|bin|al|el|dos|du|of)"
# a run of capitalised words: "Foreign Secretary Yvette Cooper", "Mr Mitov", "Erik ten Hag", "Bank of England"
_RUN = re.compile(rf"(?:{_HON}\.?\s+)?{_CAP}(?:\s+(?:{_PARTICLE}\s+)?{_CAP})*")
_PRONOUN = r"(?:he|she|they|He|She|They)"
_NOMINAL = re.compile(r"\b(?:the|The|a|A|an|An|one|One|its|Its|his|His|her|Her|their|Their)\s+((?:[a-z-]+\s+){0,3}?"
                      r"(?P<noun>minister|secretary|president|spokesperson|spokesman|spokeswoman|official|officials|"
                      r"company|firm|government|ministry|department|agency|police|coach|manager|chief|executive|ceo|"
                      r"founder|director|chairman|chair|leader|lawyer|lawyers|attorney|attorneys|prosecutor|"
                      r"prosecutors|team|club|group|report|statement|study|researchers|scientists|expert|experts|"
                      r"analyst|analysts|source|sources|singer|star|actor|actress|player|striker|quarterback|"
                      r"organisation|organization|council|court|judge|senator|governor|mayor|ambassador|union|"
                      r"startup|platform|studio|developer|publisher|network|bank|regulator|commission))\b")

_ROLE_WORDS = frozenset("""secretary minister president prime foreign home chancellor senator governor chief executive
officer ceo cfo cto coo director coach manager judge justice attorney general commissioner mayor chairman chairwoman
chair chairperson speaker leader deputy vice health defence defense interior treasury education transport state
shadow professor inspector detective superintendent constable captain lieutenant sergeant king queen prince princess
pope bishop archbishop ambassador spokesperson spokesman spokeswoman head founder co-founder cofounder analyst
editor reporter correspondent economist lawyer prosecutor partner president-elect vp svp evp gm owner producer
creator designer host presenter author researcher scientist professor doctor nurse officer commander chancellor
quarterback striker midfielder defender goalkeeper forward guard pitcher boss skipper captain rapper singer actor
actress star spokesperson strategist advisor adviser consultant investor trader official officials member mp mep
counsel assistant associate senior junior principal lead representative envoy negotiator premier streamer creator
youtuber influencer entrepreneur engineer developer teacher student pharmacist physician psychologist counselor
therapist veterinarian vet lecturer biologist biogerontologist technologist journalist writer artist musician
athlete radiologist toxicologist epidemiologist virologist spokesman chairman cto""".split())
_ORG_WORDS = frozenset("""office ministry department council commission agency police court government inc ltd llc
plc company corp corporation group association union university party committee bank service authority federation
league club fc times news post guardian telegraph journal herald press network institute foundation board
parliament senate congress assembly administration bureau organisation organization fund trust studios games
motors technologies labs capital ventures partners clinic hospital school college lab center centre society services
rights dynamics physicians sciences studies systems solutions robotics academy inc. corp. co. llp network networks
airlines airways media group""".split())
_NOT_NAMES = frozenset("""the a an in on at but and meanwhile however he she they it this that these those we i his
her their its our when while after before if as also for from with without despite according speaking asked last
next earlier later now then yet so still even many some most more other several monday tuesday wednesday thursday
friday saturday sunday january february march april may june july august september october november december
there here what who why how where which image getty ap reuters afp photo video read watch more phd md""".split())
_MONTHS = frozenset("january february march april may june july august september october november december".split())


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


@dataclass(frozen=True)
class Person:
    """A named speaker as the article introduces them."""

    name: str
    role: str = ""
    organisation: str = ""
    role_start: int = -1
    role_end: int = -1
    is_body: bool = False


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    person: Person
    quoted: bool = False        # inside quotation marks: never the antecedent of "he said"
    possessive: bool = False    # "Ice Poseidon's stream": a possessor is rarely who "she said" means


# ---- text structure ---------------------------------------------------------------------------------------------
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sen|Rep|Gov|Gen|Col|Capt|Lt|Sgt|Jr|Sr|Inc|Ltd|Co|No|vs|etc|"
                     r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|[A-Z])\.)$")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Line spans (the cleaner keeps one paragraph or line of the source per line), empty lines dropped."""
    out, pos = [], 0
    for line in text.split("\n"):
        s, e = pos, pos + len(line)
        pos = e + 1
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentences(text: str, lo: int, hi: int, masked: str | None = None) -> list[tuple[int, int]]:
    """Sentence spans in text[lo:hi]. Boundaries inside quotation marks are ignored when `masked` (the text with
    quoted words blanked) is given, so a multi-sentence quote stays in the sentence of its attribution."""
    src = masked if masked is not None else text
    out, s = [], lo
    for m in re.finditer(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"“‘'(A-Z0-9])", src[lo:hi]):
        end = lo + m.start() + len(m.group(0).rstrip())
        if _ABBREV.search(src[max(lo, end - 6):lo + m.start() + 1]):
            continue
        out.append((s, end))
        s = lo + m.end()
    if s < hi:
        out.append((s, hi))
    return out


_OPEN, _CLOSE = "“‘", "”’"


def quote_spans(text: str, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """(start, end, closed) of the insides of quotation marks in text[lo:hi]; curly and straight double quotes,
    and single quotes that open at a word start. An unclosed double quote runs to the end of the paragraph (a
    quote that continues in the next paragraph has no closing mark in news style)."""
    out = []
    i = lo
    while True:
        m = _OPENER.search(text, i, hi)
        if m is None:
            break
        i = m.start()
        if m.group(0) in "'‘" and ((i > lo and text[i - 1].isalnum()) or not text[i + 1:i + 2].isalpha()
                                    or _ELISION.match(text, i)):
            i += 1
            continue
        double = m.group(0) in '"“'
        close = (_DOUBLE_CLOSE if double else _SINGLE_CLOSE).search(text, i + 1, hi)
        if double and close is None:
            out.append((i + 1, hi, False))
            break
        if close is None or (not double and '"' in text[i + 1:close.start()]):
            i += 1
            continue
        out.append((i + 1, close.start(), True))
        i = close.start() + 1
    return out


_OPENER = re.compile(r"[\"“'‘]")
_DOUBLE_CLOSE = re.compile(r"[\"”]")
# a closing single quote follows punctuation or ends a word, and is not an apostrophe inside a word ("don't")
_SINGLE_CLOSE = re.compile(r"['’](?![A-Za-z])")
_ELISION = re.compile(r"'(?:s|t|re|ve|ll|d|m|em|n|cause|til|90s|80s)\b", re.I)


def _mask(text: str, spans: list[tuple[int, int, bool]], lo: int, hi: int) -> str:
    """text with the letters inside quotes replaced (same length), so rules never read a quote as narration."""
    chars = list(text[lo:hi])
    for s, e, _ in spans:
        for k in range(s - lo, e - lo):
            if not chars[k].isspace():
                chars[k] = "x"
    return text[:lo] + "".join(chars) + text[hi:]


# ---- names and roles --------------------------------------------------------------------------------------------

def _words(s: str) -> list[str]:
    return s.split()


def _clean_run(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop leading capitalised function words ('But Mr Mitov' -> 'Mr Mitov') and trailing possessives/particles."""
    while True:
        m = re.match(r"(\S+)\s+", text[s:e])
        if not m or m.group(1).lower().strip(".,") not in _NOT_NAMES:
            break
        s += m.end()
    while True:
        m = re.search(r"\s+(\S+)$", text[s:e])
        if not m or (m.group(1).lower().strip(".,") not in _NOT_NAMES and m.group(1) not in
                     ("of", "for", "and", "&", "de", "van", "von", "der")):
            break
        e = s + m.start()
    if text[s:e].endswith(("'s", "’s")):
        e -= 2
    return s, e


def _split_title(run: str) -> tuple[str, str]:
    """'Foreign Secretary Yvette Cooper' -> ('Foreign Secretary', 'Yvette Cooper'); 'Flipboard CEO Mike McCue' ->
    ('Flipboard CEO', 'Mike McCue'); "ESPN's Jeff Passan" -> ("ESPN's", 'Jeff Passan'); 'Mr Mitov' -> ('', 'Mr
    Mitov'); 'Senator Mark Warner of Virginia' -> ('Senator', 'Mark Warner'). A body ('the Home Office', 'Bank
    of England') is all name."""
    run = re.sub(r"^(?:the|The)\s+", "", run)
    words = run.split()
    k = len(words)
    while k > 0:
        w = words[k - 1]
        low = w.lower().strip(".")
        if low in _ROLE_WORDS or w.endswith(("'s", "’s")) or not (w[0].isupper() or low in _PARTICLES or low == "of"):
            break
        k -= 1
    while k < len(words) and words[k].lower() in _PARTICLES | {"of"}:
        k += 1
    title, name = " ".join(words[:k]), " ".join(words[k:])
    if not name:
        return run, ""
    if _is_body(name) or _is_body(run) and not title:
        return "", run
    if " of " in f" {name} ":            # "Mark Warner of Virginia": the person, not the place
        name = name.split(" of ")[0]
    return title, name


_PARTICLES = frozenset("de da di del van von der den ten ter la le bin al el dos du".split())


def _is_body(name: str) -> bool:
    words = name.split()
    low = [w.lower().strip(".,") for w in words]
    return any(w in _ORG_WORDS for w in low) or (len(low) == 1 and name.isupper() and len(name) > 1) or \
        len([w for w in low if w not in _PARTICLES and w != "of"]) >= 4 or any(
            len(w) >= 2 and w.isupper() and w not in ("II", "III", "IV", "JR", "SR") for w in words[1:])


_HON_HEAD = re.compile(rf"^{_HON}\.?\s+")


def _bare(name: str) -> str:
    return _HON_HEAD.sub("", name) if name[:1] in "MDPSLRGCJKQ" else name


def _surname(name: str) -> str:
    return _bare(name).split()[-1].lower() if _bare(name).split() else ""



def _prefix_role(text: str, s: int, floor: int) -> tuple[str, str, int]:
    """A title written before a name: 'OpenAI CEO Sam Altman', 'head coach Jeff Traylor', 'Manchester United
    manager Erik ten Hag'. Returns (role, organisation, start) or ('', '', -1)."""
    window = text[max(floor, s - 80):s]
    toks = list(re.finditer(r"[\w&.'’-]+", window))
    k = len(toks)
    while k > 0:
        w = toks[k - 1].group(0)
        low = w.lower().strip(".")
        if low in _ROLE_WORDS or (w[0].isupper() and low not in _NOT_NAMES) or \
                (low in ("of", "the", "and", "for", "at") and k < len(toks)):
            k -= 1
            continue
        break
    picked = toks[k:]
    while picked and picked[0].group(0).lower() in ("of", "the", "and", "for", "at"):
        picked = picked[1:]
    if not picked or not any(t.group(0).lower().strip(".") in _ROLE_WORDS for t in picked):
        return "", "", -1
    # the title must touch the name: nothing but spaces between
    if window[picked[-1].end():].strip():
        return "", "", -1
    start = max(floor, s - 80) + picked[0].start()
    role = text[start:max(floor, s - 80) + picked[-1].end()]
    org = " ".join(t.group(0) for t in picked if t.group(0)[0].isupper()
                   and t.group(0).lower().strip(".") not in _ROLE_WORDS).replace("’s", "").replace("'s", "")
    return role, org, start


_APPOS_END = r"(?=\s*(?:,|\.\s|\.$|;|—|–|\s+-\s|\s+(?:told|said|says)\b|$))"
_APPOS = re.compile(r",\s+(?P<role>(?:who\s+(?:is|was|serves\s+as)\s+)?(?:the|a|an|his|her|their|its|[A-Z][\w&.'’-]*"
                    r"|[a-z-]+)[^,;:\"“”()—–]{1,160}?)" + _APPOS_END)
# "a Dallas, Texas-based emergency medicine physician": a place name inside the apposition
_APPOS2 = re.compile(r",\s+(?P<role>(?:the|a|an)\s+[A-Z][^,;:\"“”()—–]{1,40},\s+[^,;:\"“”()—–]{1,110}?)" + _APPOS_END)
_CREDENTIAL = re.compile(r",\s*(?:PhD|Ph\.D\.|MD|M\.D\.|Jr\.?|Sr\.?|RN|DVM|MBA|MPH|DO|PsyD|III|II)(?=,)")
_ROLE_BEFORE = re.compile(r"(?:^|[\s(])(?P<role>(?:[Tt]he|[Aa]n?)\s+[^,.;:\"“”]{3,80}),\s*$")
_ORG_OF = re.compile(r"\b(?:of|at|for|from|with)\s+(?:the\s+)?((?:[A-Z][\w&.'’-]*)(?:\s+(?:of\s+|for\s+|and\s+)?"
                     r"[A-Z][\w&.'’-]*)*)")


def _appositive_role(text: str, e: int, hi: int) -> tuple[str, str, int, int]:
    if cred := _CREDENTIAL.match(text, e, hi):   # "Dr. Carl Nassar, PhD, a professional counselor"
        e = cred.end()
    m = _APPOS.match(text, e, hi)
    m2 = _APPOS2.match(text, e, hi)
    if m2 and (not m or not _has_role_word(m.group("role"))):
        m = m2
    if not m:
        return "", "", -1, -1
    role = m.group("role")
    low = role.lower()
    if low.startswith(("previously ", "formerly ", "once ", "who was once ")):
        return "", "", -1, -1     # a past job is not the role they speak in
    words = re.findall(r"[a-z-]+", low)
    if re.search(rf"\b{_VERB}\b", low) and not low.startswith(("who is", "who was", "who serves")):
        return "", "", -1, -1
    if not _has_role_word(low) and not any(w in ("equivalent", "head", "member", "founder") for w in words) \
            and "'s" not in role and "’s" not in role and not re.search(r"\b(?:of|at|for)\s+[A-Z]", role):
        return "", "", -1, -1
    rs = m.start("role")
    role = re.sub(r"^who\s+(?:is|was|serves\s+as)\s+", "", role)
    rs = m.end("role") - len(role)
    return role, _organisation(role), rs, m.end("role")


def _has_role_word(role: str) -> bool:
    return any(w in _ROLE_WORDS or (w.endswith("s") and w[:-1] in _ROLE_WORDS)
               for w in re.findall(r"[a-z-]+", role.lower()))


def _organisation(role: str) -> str:
    m = re.match(r"((?:[A-Z][\w&.-]*\s+)*[A-Z][\w&.-]*)(?:'s|’s)\s", role)
    if m:
        return m.group(1)
    m = _ORG_OF.search(role)
    if m:
        org = m.group(1)
        first = org.split()[0].lower()
        return "" if first in _ROLE_WORDS and len(org.split()) == 1 else org
    return ""



class _Registry:
    """People and bodies of one article, in order of mention; surnames point to full names."""

    def __init__(self) -> None:
        self.by_key: dict[str, Person] = {}
        self.mentions: list[_Mention] = []

    def person(self, name: str) -> Person | None:
        key = _bare(name).lower()
        return self.by_key.get(key) or (self.by_key.get(_surname(name)) if " " not in key else
                                         self.by_key.get(_surname(name) + "\x00full" + key))

    def add(self, name: str, role: str, org: str, rs: int, re_: int, is_body: bool) -> Person:
        key = _bare(name).lower()
        known = self.by_key.get(key) or (None if is_body else self.by_key.get(_surname(name)))
        if known is not None and " " in key and " " in _bare(known.name) and _bare(known.name).lower() != key:
            known = None    # another person with the same surname
        if known is not None:
            if role and not known.role:
                known = replace(known, role=role, organisation=org or known.organisation, role_start=rs,
                                role_end=re_)
            if len(_bare(name).split()) > len(_bare(known.name).split()):
                known = replace(known, name=_bare(name))
        else:
            known = Person(_bare(name), role, org, rs, re_, is_body)
        self.by_key[_bare(known.name).lower()] = known
        if not is_body:
            self.by_key.setdefault(_surname(known.name), known)
            if self.by_key[_surname(known.name)].name.lower() in (key, _bare(known.name).lower()) or \
                    " " not in _bare(self.by_key[_surname(known.name)].name):
                self.by_key[_surname(known.name)] = known
        return known

    def refresh(self) -> None:
        # a later, fuller mention ("Mr Mitov" then "Daniel Mitov") or a role stated later updates every mention
        self.mentions = [replace(m, person=self.by_key.get(_bare(m.person.name).lower(), m.person))
                         for m in sorted(self.mentions, key=lambda m: m.start)]


def _scan_people(text: str) -> _Registry:
    """Every named person or body with the role stated beside one of its mentions (first stated role wins)."""
    reg = _Registry()
    for ps, pe in paragraphs(text):
        inside = quote_spans(text, ps, pe) if any(c in text[ps:pe] for c in "\"“'‘") else []
        for m in _RUN.finditer(text, ps, pe):
            s, e = _clean_run(text, m.start(), m.end())
            if e <= s:
                continue
            run = text[s:e]
            title, name = _split_title(run)
            words = name.split()
            if not words or words[0].lower().strip(".") in _NOT_NAMES:
                continue
            body = _is_body(name)
            honorific = re.match(rf"{_HON}\.?\s", name) is not None
            if not body and len(words) < 2 and not honorific and reg.person(name) is None and \
                    not (not title and _has_role_word(_appositive_role(text, e, pe)[0])):
                continue   # one capitalised word: a place, a month, a sentence start ("Bree, another streamer," is a name)
            ns = s + run.find(name) if name in run else s + len(run) - len(name)
            e = min(e, ns + len(name)) if not body else e
            quoted = any(a <= ns < b for a, b, _ in inside)
            role, org, rs, re_ = "", "", -1, -1
            if quoted:   # a name inside a quotation is mentioned, not introduced: no role from there
                reg.mentions.append(_Mention(ns, e, reg.add(name, "", "", -1, -1, body), True))
                continue
            if title and title.lower().strip(".") not in ("mr", "mrs", "ms", "dr", "miss"):
                pr, porg, pst = _prefix_role(text, s, ps)
                role, rs, re_ = title.rstrip(), s, ns - 1
                org = " ".join(w for w in title.split() if w[0].isupper() and w.lower().strip(".") not in _ROLE_WORDS
                               ).replace("’s", "").replace("'s", "")
                if pst >= 0:
                    role, org, rs = text[pst:ns - 1], porg or org, pst
            else:
                pr, porg, pst = _prefix_role(text, ns, ps)
                if pst >= 0:
                    role, org, rs, re_ = pr, porg, pst, ns - 1
            ar, aorg, ars, are = _appositive_role(text, e, pe)
            if ar:
                role, org, rs, re_ = ar, aorg or org, ars, are
            elif not role and (mb := _ROLE_BEFORE.search(text, max(ps, ns - 90), ns)) and \
                    _has_role_word(mb.group("role")):   # "the Israeli ambassador to Portugal, Dor Shapiro"
                role, rs, re_ = mb.group("role"), mb.start("role"), mb.end("role")
                org = _organisation(role)
            if role and not org:
                org = _organisation(role)
            if role and not any(w.lower().strip(".,") in _ROLE_WORDS or w.endswith(("'s", "’s")) for w in role.split()) \
                    and not ar:
                role, org, rs, re_ = "", "", -1, -1
            p = reg.add(name, role, org, rs, re_, body)
            reg.mentions.append(_Mention(ns, e, p, False, text[e:e + 2] in ("'s", "’s")))
    reg.refresh()
    return reg


_GROUP_NOUNS = frozenset("company firm government ministry department agency police team club group council court "
                         "union startup studio network bank regulator commission organisation organization".split())


def _resolve(reg: _Registry, phrase: str, at: int, prefer: Person | None, *, loose: bool = False) -> Person | None:
    """The person or body an attribution's subject refers to. `prefer`: the speaker of this paragraph so far
    ("he said" after a quote continues it); `loose`: accept an unknown one-word name (right after a quote)."""
    phrase = phrase.strip(" ,")
    if not phrase:
        return None
    low = phrase.lower()
    if low in ("he", "she"):
        if prefer is not None and not prefer.is_body:
            return prefer
        for m in reversed(reg.mentions):
            if m.start < at and not m.quoted and not m.possessive and not m.person.is_body:
                return m.person
        return None
    if low in ("they", "it"):
        if prefer is not None:
            return prefer
        for m in reversed(reg.mentions):
            if m.start < at and not m.quoted and m.person.is_body:
                return m.person
        return None
    nominal = _NOMINAL.fullmatch(phrase)
    if nominal:
        noun = nominal.group("noun")
        if prefer is not None and noun in (prefer.role.lower() + " " + prefer.name.lower()):
            return prefer
        for m in reversed(reg.mentions):
            if m.start < at and not m.quoted and noun in (m.person.role.lower() + " " + m.person.name.lower()):
                return m.person
        if noun in _GROUP_NOUNS:
            for m in reversed(reg.mentions):
                if m.start < at and not m.quoted and m.person.is_body:
                    return m.person
        return Person(phrase)     # unresolved for now: a pull quote may be named further down
    title, name = _split_title(re.sub(r"^(?:the|The)\s+(?=[A-Z])", "", phrase))
    if not name:
        return None
    p = reg.person(name) or reg.by_key.get(name.lower())
    if p is None:
        words = name.split()
        if words[0].lower().strip(".") in _NOT_NAMES or words[0].lower() in _ROLE_WORDS:
            return None
        if len(words) >= 2 or _is_body(name) or loose or re.match(rf"{_HON}\.?\s", name):
            org = " ".join(w for w in title.split() if w[:1].isupper() and w.lower() not in _ROLE_WORDS)
            p = Person(_bare(name), title, org.replace("’s", "").replace("'s", ""), -1, -1, _is_body(name))
    return p


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
_ADDRESSEE = re.compile(r"^\s*(?P<to>(?:the\s+|The\s+)?[A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*){0,4}|reporters|"
                        r"journalists)")
# the subject just before a verb: "Dodgers manager Dave Roberts", "Daniel Mitov, Bulgaria's equivalent of ..., "
_SUBJ_END = re.compile(rf"{_SUBJ}{_ROLE_TAIL}\s+{_AUX}$")


def _addressee(verb: str, rest: str) -> str:
    if verb not in ("told", "tells", "telling"):
        m = re.search(r"\b(?:to|in an interview with|speaking to)\s+((?:the\s+)?[A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*)"
                      r"{0,4})", rest)
        return m.group(1) if m and verb in ("said", "says", "wrote", "explained") else ""
    m = _ADDRESSEE.match(rest)
    return m.group("to").strip() if m else ""


def _subject_of(text: str, s: int, verb_at: int) -> tuple[str, int]:
    """The subject of the clause text[s:verb_at]: the phrase right before the verb (an apposition between them
    allowed), else the clause's first name."""
    clause = text[s:verb_at]
    m = _SUBJ_END.search(clause, max(0, len(clause) - 200))
    while m is not None:
        phrase = m.group("subj")
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
        del phrase
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
                    return person, _trim(text, start, end), m.group("verb"), _addressee(m.group("verb"),
                                                                                        m.group("rest"))
    s0 = sent[0]  # 2. before the opening mark, in the same sentence
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
                _addressee(m.group("verb"), m.group("rest"))
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
