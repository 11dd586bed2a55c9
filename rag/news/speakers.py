"""People and bodies in an article, and the roles it gives them (used by rag.quotes).

`_scan_people(text)` lists every named person or body in order of mention, with the role the article writes next
to one of its mentions: an apposition (`Daniel Mitov, Bulgaria's equivalent of the Home Secretary,`), a title
before the name (`Foreign Secretary Yvette Cooper`, `OpenAI CEO Sam Altman`, `head coach Jeff Traylor`) or a
phrase before it (`the Israeli ambassador to Portugal, Dor Shapiro`). `_resolve` turns an attribution's subject
("Mr Mitov", "he", "the minister", "his lawyers") into one of them. Names starting with an underscore are shared
with rag.quotes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .quote_text import paragraphs, quote_spans

# speech verbs: an apposition that holds one is a clause, not a role
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
there here what who why how where which image getty ap reuters afp photo video read watch more phd md
neither either nor both not only each every all no""".split()) | frozenset(_VERBS)  # "Notes Greer, ..." opens with its verb
_MONTHS = frozenset("january february march april may june july august september october november december".split())


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
    if low.startswith(("previously ", "formerly ", "once ", "who was once ", "not ", "never ", "no longer ")):
        return "", "", -1, -1     # a past job, or one denied ("Denise George, not the governor,"), is not their role
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



__all__ = ["Person"]
