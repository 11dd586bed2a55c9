"""The lexicon every stage shares: words and tokens, stopwords, the one stemmer, month names, the one sentence
splitter. Retrieval, the evidence gate, citations and chunking all read text through here, so "the same word" and
"a sentence" mean the same thing everywhere."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

WORD = re.compile(r"\w+", re.UNICODE)
# a number (with its separators: "1,250.5") or a run of letters
TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_]+", re.UNICODE)

# Function words carry no topic: dropping them keeps BM25 from rewarding chunks for "the" and "what".
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also according article articles report
    reported reports said says say""".split()
)
# Words that say what kind of answer is wanted, not what it is about.
QUESTION_WORDS = frozenset(
    """many much whose tell told know anything something thing things happen happened mention mentioned
    like can could may might must shall us yes please give list describe explain did does published publish
    posted written wrote story""".split()
)

MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december")
# full names, three-letter abbreviations and "sept" -> month number
MONTHS = {**{m: i for i, m in enumerate(MONTH_NAMES, 1)}, **{m[:3]: i for i, m in enumerate(MONTH_NAMES, 1)},
          "sept": 9}

# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by whitespace, or at a line break.
# Abbreviations like "Mr." produce short sentences; they only make units a little finer, never wrong.
_BOUNDARY = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+|\n+""")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def normalise_number(tok: str) -> str:
    return tok.replace(",", "")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A deliberately light stemmer: enough to match claimed/claims/claim and crossing/crossed, no more."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 4 and w.endswith(("ses", "xes", "zes", "ches", "shes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed, in order."""
    pos = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        # closing quotes/brackets belong to the sentence they close
        while end < m.end() and not text[end].isspace():
            end += 1
        yield from _trimmed(text, pos, end)
        pos = m.end()
    yield from _trimmed(text, pos, len(text))


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end
