"""Sentence segmentation for news text, with exact character offsets into the original string.

One segmenter for chunking, citations and answers, so a sentence is the same everywhere. Rules, in order:

- A blank line always ends a sentence (paragraphs, and headlines or captions on a line of their own).
- A single line break ends a sentence when the line before ends in . ! ? (plus closing quotes), ends in a colon,
  or looks like a headline or caption: Title Case, or much shorter than the text's usual line. Otherwise it is a
  line wrap (PDF, e-mail, hard-wrapped text) and the sentence goes on: the next line starts lower-case, the line
  ends in a comma or a function word ("by", "the"), or it is as long as the lines around it.
- After . ! ? the next word decides: lower case never starts a sentence ("U.S. officials", "e.g. the").
  Titles ("Mr.", "Dr.", "Sen.") and initials ("J.J. McCarthy", "Michael J. Fox") never end one; "No. 3" and
  "Oct. 4" neither. Abbreviations that can also end a sentence ("U.S.", "Inc.", "a.m.", "Jan.") end one only when
  the next word is a typical sentence opener ("in the U.S. The company ...").

Nothing here is tuned to one corpus: the word lists are closed classes of English (titles, months, pronouns,
determiners), not names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_CLOSERS = "\"'”’)]»"
# A candidate boundary: whitespace holding a line break, or whitespace after terminal punctuation (+ closers).
_CANDIDATE = re.compile(r"[ \t\f\v\u00a0]*\n\s*|(?<=[.!?…])[\"'”’)\]»]*\s+")
_WORD = re.compile(r"\S+")

# Words followed by a name or number: a period after them never ends a sentence.
_TITLES = frozenset("""mr mrs ms mx dr prof sen sens rep reps gov gen lt col maj sgt capt cmdr adm rev hon pres st
    fr mt messrs mme mlle supt insp det cpl pvt ft vs v cf approx ca viz""".split())
# Followed by a number they never end a sentence ("No. 3", "Oct. 4", "p. 12").
_BEFORE_NUMBER = frozenset("""no nos vol vols pp p fig figs art sec ch op jan feb mar apr jun jul aug sep sept oct
    nov dec est ed eds pt para""".split())
# Can end a sentence or not: decided by the next word.
_AMBIGUOUS = frozenset("""inc corp co ltd llc plc jr sr etc jan feb mar apr jun jul aug sep sept oct nov dec mon tue
    tues wed thu thurs fri sat sun dept univ assn bros ave blvd rd hwy no al ala ariz ark calif colo conn del fla ga
    ill ind kan kans ky la md mass mich minn miss mo mont neb nev okla ore pa tenn tex va vt wash wis wyo""".split())
# Capitalised words that typically open a sentence (pronouns, determiners, conjunctions, adverbs): after an
# ambiguous abbreviation they mean the abbreviation ended the sentence.
_OPENERS = frozenset("""a an the this that these those there then thus he she it they we i you his her its their our
    my your in on at for from by with as after before while when if but and so yet however meanwhile still also
    some many most one two three both all no not what which who how why where instead since although though despite
    during under over according last next earlier later now today yesterday tomorrow""".split())
# A line ending in one of these is cut mid-sentence.
_FUNCTION_WORDS = frozenset("""a an the of to in on at by for with from and or but nor as that than which who whose
    whom is are was were be been has have had will would can could should may might must its his her their our my
    your this these those into onto over under about after before between during said says""".split())
_LIST_ITEM = re.compile(r"(?:[-•*–—]\s|\d{1,2}[.)]\s|[a-z][.)]\s)")


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence of `text`, whitespace trimmed, in order; every non-space character of `text`
    lies in exactly one span, and `text[start:end]` is the sentence (offsets into the original string)."""
    first = True
    for s, e in _spans(text):
        if first:
            first = False
            yield from _headline_split(text, s, e)
        else:
            yield s, e


def _spans(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    line_width: list[float] = []  # computed on first need: most texts never ask
    for m in _CANDIDATE.finditer(text):
        end = m.start()
        while end < m.end() and not text[end].isspace():
            end += 1  # closing quotes/brackets belong to the sentence they close
        if _is_boundary(text, pos, end, m.end(), text[end:m.end()], line_width):
            yield from _trimmed(text, pos, end)
            pos = m.end()
    yield from _trimmed(text, pos, len(text))


# A headline (and a sub-headline) glued to the first sentence on one line, as scraped pages often are: "... got
# here The highly anticipated trial ...". A capitalised opener followed by a lower-case word, right after a word
# with no punctuation, does not happen inside an English sentence (names like "The Times" continue in capitals).
_GLUED = re.compile(r"(?<=[\w%)’'”])[ \u00a0]+(?=(?:The|In|From|After|When|While|An|This|As|On|It|Last|Over|For|"
                    r"With)\s+[a-z])")


def _headline_split(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Only the text's first sentence is checked: that is where a page's headline sits."""
    for m in _GLUED.finditer(text, start, end):
        if 3 <= len(text[start:m.start()].split()) <= 25:
            yield start, m.start()
            start = m.end()
    yield start, end


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (see `sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _is_boundary(text: str, sent_start: int, end: int, nxt: int, space: str, line_width: list[float]) -> bool:
    if nxt >= len(text):
        return True
    newlines = space.count("\n")
    if newlines >= 2:
        return True
    head = text[sent_start:end].rstrip(_CLOSERS)
    next_word = _WORD.match(text, nxt)
    following = next_word.group(0) if next_word else ""
    if head.endswith((".", "!", "?", "…")):
        after_period = _after_period(head, following, quoted=len(head) < end - sent_start)
        # an ambiguous abbreviation at the end of a line ("... in the U.S.\nPrices") ends its sentence
        return bool(newlines) if after_period is None else after_period
    if newlines:
        return _line_break(text, end, nxt, following, line_width)
    return False


def _after_period(head: str, following: str, quoted: bool) -> bool | None:
    """Does terminal punctuation at the end of `head` end the sentence, given the next word?

    None: an abbreviation that may or may not end it, and the next word does not tell (a line break will)."""
    if following[:1] in "-–—,;:":
        return False  # "ANN ARBOR, Mich. – Michigan ...": a dash or comma never opens a sentence
    token = (head.rsplit(None, 1) or [""])[-1].lstrip("\"'“‘([«")
    word = token[:-1]
    low = word.lower()
    first = following.lstrip("\"'“‘([«")
    if _starts_lower(following):
        # "e.g. the", "U.S. officials", "Yahoo! said", '"Go." he said' go on; a plain word ending a sentence
        # before a lower-case one is a sloppy capital ("... payout. the more legs ...")
        return not (quoted or head[-1] != "." or _is_abbreviation(word))
    if head[-1] in "!?…" or head.endswith(".."):
        return True
    if word.isupper() and len(word) > 1 and word.isalpha():
        return True  # "Annapolis, MD.", "San Diego, CA.": an upper-case acronym is a word, not "Md." or "ca."
    if low in _TITLES:
        return False
    if first[:1].isdigit():
        return low not in _BEFORE_NUMBER
    if _is_initials(word):
        # "J. Smith", "J.J. McCarthy", "Michael J. Fox": initials sit before a capitalised name
        return not first[:1].isupper() or first.lower().strip(",") in _OPENERS
    if low in _AMBIGUOUS or _is_abbreviation(word):
        return True if first.lower().rstrip(",") in _OPENERS else None
    return True


def _is_abbreviation(word: str) -> bool:
    """A word whose final period marks an abbreviation: a listed one, an initial, or dotted short letter groups
    ("U.S", "a.m", "e.g", "Ph.D"); not a domain ("Layoffs.fyi") or a number ("0.800")."""
    low = word.lower()
    if low in _TITLES or low in _AMBIGUOUS or low in _BEFORE_NUMBER:
        return True
    parts = word.split(".")
    return all(p.isalpha() and len(p) <= 3 for p in parts) and (len(parts) > 1 or len(word) == 1)


def _is_initials(word: str) -> bool:
    parts = word.split(".")
    if not 1 <= len(parts) <= 3 or not all(len(p) == 1 and p.isupper() for p in parts):
        return False
    # two- and three-letter country and city acronyms end sentences as often as they start names
    return word not in {"U.S", "U.K", "U.N", "E.U", "D.C", "L.A", "N.Y", "U.S.A", "N.J", "S.F", "U.A.E"}


def _starts_lower(word: str) -> bool:
    w = word.lstrip("\"'“‘([«")
    # "iPhone", "eBay": brands that keep a lower-case first letter may open a sentence
    return bool(w) and w[0].islower() and not (len(w) > 1 and any(c.isupper() for c in w[1:3]))


def _line_break(text: str, end: int, nxt: int, following: str, line_width: list[float]) -> bool:
    """A single line break after a line without terminal punctuation: headline/caption/list (True) or wrap."""
    line = text[text.rfind("\n", 0, end) + 1:end].strip()
    if not line or not following:
        return True
    if line.endswith(":"):
        return True
    if _starts_lower(following) or following[0] in "([{" or line.endswith((",", ";", "-", "(", "/", "&")):
        return False
    words = line.split()
    if words[-1].lower() in _FUNCTION_WORDS:
        return False
    if not line_width:
        line_width.append(_wrap_width(text))
    width = line_width[0]
    if not width:
        # lines as the author broke them: a line break ends the sentence unless the next line clearly goes on
        return _LIST_ITEM.match(text, nxt) is not None or following.lstrip("\"'“‘«")[:1].isupper() \
            or following[:1].isdigit()
    if len(line) >= 0.8 * width:
        return False  # hard-wrapped text: a line that runs to the margin goes on in the next one
    if _LIST_ITEM.match(text, nxt):
        return True
    if not following.lstrip("\"'“‘«")[:1].isupper():
        return False
    long_words = [w for w in words if len(w.strip("\"'“‘”’()")) >= 4]
    if long_words and sum(not _starts_lower(w) for w in long_words) >= 0.75 * len(long_words):
        return True  # a Title Case line: a headline or a caption
    return len(line) < 0.6 * width  # a short line over a capitalised one: a headline or caption


def _wrap_width(text: str) -> float:
    """The margin of hard-wrapped text (PDF, e-mail), or 0 when lines are as the author broke them.

    Hard-wrapped text has many lines of nearly the same length, just under the margin; paragraphs-per-line text
    has lines of every length."""
    lengths = sorted(len(ln.strip()) for ln in text.split("\n") if ln.strip())
    if len(lengths) < 5:
        return 0.0
    margin = lengths[int(0.9 * (len(lengths) - 1))]
    if margin > 150:
        return 0.0
    near = sum(1 for n in lengths if n >= 0.7 * margin)
    return float(margin) if near >= 0.6 * len(lengths) else 0.0
