"""News-boilerplate cleaning and header metadata (dateline, byline) for article text.

One invariant keeps citations honest: cleaning only normalises whitespace and drops whole lines. It never rewrites
the characters of a line it keeps, so any span of the cleaned text can be found in the source once whitespace is
collapsed. Every rule works on one line at a time, skips long lines, and uses bounded patterns, so cleaning stays
linear in the size of the input (a 300 KB token or a 10 MB line costs one pass).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ..lexicon import MONTHS

# Lines longer than this are article prose (or a blob) and are never treated as boilerplate.
_MAX_BOILERPLATE_LINE = 1200
# Captions are short; a longer line that ends in a credit is prose with a caption glued on, and is kept.
_MAX_CAPTION_HEAD_LINE = 200
_MAX_CAPTION_TAIL_LINE = 250

# Characters that are neither text nor whitespace; dropping them cannot join two words.
# Lone surrogates (from JSON "\\ud800" escapes) cannot be encoded as UTF-8 by any later stage.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\ud800-\udfff]+")

# Lines that are a widget label on their own, compared after lower-casing and trimming punctuation.
_WIDGET_LINES = frozenset("""
invalid email
sign up
sign me up
sign up now
subscribe
subscribe now
subscribe here
sign up for our newsletter
sign up to our newsletter
subscribe to our newsletter
get our newsletter
thanks for signing up
thank you for signing up
thank you for subscribing
enter your email
enter your email address
your email address
email address
email (required)
please enter a valid email address
something went wrong, please try again later
advertisement
skip advertisement
story continues below advertisement
article continues below advertisement
continue reading below
share
share this
share this article
share this story
share this post
share article
share on facebook
share on twitter
share on x
share on whatsapp
share on linkedin
share on reddit
share on pinterest
share via email
copy link
link copied
tweet
follow us
accept cookies
accept all cookies
accept all
reject all
manage cookies
cookie settings
cookie policy
cookie preferences
manage preferences
""".strip().splitlines())

# Phrases found only in sign-up / consent widgets; a short line containing one is the widget, not prose.
_WIDGET_PHRASES = (
    "we use your sign-up to provide content",
    "you can unsubscribe at any time",
    "by signing up you agree",
    "by signing up, you agree",
    "by subscribing you agree",
    "by subscribing, you agree",
    "by submitting your email, you agree",
    "by submitting your email you agree",
    "by clicking sign up, you agree",
    "by clicking subscribe, you agree",
    "skip past newsletter promotion",
    "this site is protected by recaptcha",
    "we use google recaptcha to protect our website",
    "i would like to be emailed about offers",
    "please enter a valid email address",
)

_LINE_PATTERNS = [
    # "Read our Privacy Policy", "See our privacy notice" as a line of its own.
    re.compile(r"(?:read|see|view) our (?:privacy|cookie) (?:policy|notice)\.?", re.I),
    # Share rows: "Click to share on Twitter (Opens in new window)", "Follow us on Facebook, X and Instagram".
    re.compile(r"(?:click to share|share (?:on|via)|follow us on|follow us at)\b[^.!?]{0,80}", re.I),
    # Cookie banners start with the banner's own wording.
    re.compile(r"(?:we use cookies|we and our partners use cookies|this (?:web)?site uses cookies"
               r"|by (?:continuing to )?(?:use|using|browse|browsing) (?:this|our) (?:site|website)[^.]{0,60}cookies)"
               r"\b.{0,400}", re.I),
]

# A caption label leading the line: "Image: Netflix", "(Image credit: Future)", "Photograph: Tom Jenkins".
_CREDIT_HEAD = re.compile(
    r"\(?(?:feature |header |main |top )?(?:image|images|photo|photos|photograph|picture|pictures|pic|video)"
    r"(?: credits?)?\s*:\s*\S", re.I)
# A caption credit closing the line: "... crisis (Image: Getty)", "... October. Photograph: Darren Staples/AFP".
_CREDIT_TAIL = re.compile(
    r"(?:\((?:image|photo|picture|pic)s?(?: credits?)?\s*:[^()]{1,150}\)"
    r"|\((?:getty|getty images|pa|pa wire|ap|reuters|afp|epa|alamy|shutterstock|rex|bbc|supplied)\)"
    r"|\b(?:photograph|photo|picture|image)(?: credits?)?\s*:\s[^.!?]{1,120}"
    r"|\bcredit:\s[^.!?]{1,80})\s*$", re.I)

_TITLE_SMALL_WORDS = frozenset(
    "a an the to in of for on at by as with into onto from after over up out and or is are be its "
    "after before amid during".split())
_SENTENCE_MARKS = frozenset('.!?:;"“”…')


def _widget_key(line: str) -> str:
    return line.lower().strip(" .!:|>»›→•-–—*·").strip()


def is_boilerplate_line(line: str) -> bool:
    """True for a line that is page furniture: sign-up, consent, share, cookie or caption-credit text."""
    if len(line) > _MAX_BOILERPLATE_LINE:
        return False
    low = line.lower()
    if _widget_key(line) in _WIDGET_LINES:
        return True
    if any(p in low for p in _WIDGET_PHRASES):
        return True
    if any(p.fullmatch(line) for p in _LINE_PATTERNS):
        return True
    if len(line) <= _MAX_CAPTION_HEAD_LINE and _CREDIT_HEAD.match(line):
        return True
    return len(line) <= _MAX_CAPTION_TAIL_LINE and _CREDIT_TAIL.search(line) is not None


def _looks_like_embedded_title(line: str) -> bool:
    """A Title-Case headline of an embedded video or related story ("Russian President Putin Makes A State Visit
    To Tajikistan"). Section subheadings are spared: house styles lower-case small words in them, while video
    players capitalise every word, so a capitalised small word ("To", "A") inside the line is required."""
    if len(line) > 160 or any(ch in _SENTENCE_MARKS for ch in line):
        return False
    words = line.split()
    if not 5 <= len(words) <= 20:
        return False
    capitalised_small = False
    for i, w in enumerate(words):
        w = w.strip(",'’()-")
        if not w or not w[0].isalpha():
            continue
        if not w[0].isupper():
            return False
        if i > 0 and w.lower() in _TITLE_SMALL_WORDS and w[1:].islower():
            capitalised_small = True
    return capitalised_small


def clean_text(text: str) -> str:
    """Normalise whitespace and drop boilerplate lines; paragraphs are joined by "\\n\\n", lines within one by "\\n".

    Never alters a kept line beyond collapsing its inner whitespace.
    """
    text = _CONTROL.sub("", text.replace("\r\n", "\n"))
    # Each paragraph: (kept lines, number of boilerplate lines dropped from it).
    paragraphs: list[tuple[list[str], int]] = []
    kept: list[str] = []
    dropped = 0
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            if kept or dropped:
                paragraphs.append((kept, dropped))
                kept, dropped = [], 0
        elif is_boilerplate_line(line):
            dropped += 1
        else:
            kept.append(line)
    if kept or dropped:
        paragraphs.append((kept, dropped))
    return "\n\n".join("\n".join(p) for p in _drop_embedded_titles(paragraphs))


def _drop_embedded_titles(paragraphs: list[tuple[list[str], int]]) -> list[list[str]]:
    """Drop one-line Title-Case paragraphs that sit next to dropped furniture (a video title comes with its
    caption); list items and subheadings in ordinary prose have no such neighbour and stay. The first kept
    paragraph is never dropped: it may be the article's own title."""
    out: list[list[str]] = []
    for i, (lines, dropped) in enumerate(paragraphs):
        if not lines:
            continue
        if out and len(lines) == 1 and _looks_like_embedded_title(lines[0]):
            beside = [paragraphs[j] for j in (i - 1, i + 1) if 0 <= j < len(paragraphs)]
            if dropped or any(not nb_lines and nb_dropped for nb_lines, nb_dropped in beside):
                continue
        out.append(lines)
    return out


# ---- header metadata -------------------------------------------------------------------------------------------

_DATELINE_WORDS = frozenset(MONTHS) | frozenset(
    "mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat saturday sun sunday "
    "published updated posted modified last first on at am pm a m p utc gmt bst cet cest et est edt pt pst pdt "
    "ct cst cdt mt aest aedt ist jst st nd rd th".split())
_MONTH_RE = (r"\b(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
             r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE_MDY = re.compile(_MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DATE_DMY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+(\d{4})", re.I)
_DATE_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
_TIME = re.compile(r"\b(\d{1,2})[:.](\d{2})(?:\s*([ap])\.?m\.?)?", re.I)
_UPDATED = re.compile(r"\b(?:last )?(?:updated|modified)\b", re.I)
# Case-sensitive on purpose: names are capitalised, "by the way he said" is not a byline.
_BYLINE = re.compile(r"(?:By|BY|by|Written by|WRITTEN BY)\s+"
                     r"([A-Z][\w.'’-]*,?(?:\s+(?:[A-Z][\w.'’-]*|and|&|de|van|von|der|la|le),?){1,7})")


def _date_in(segment: str) -> tuple[int, int, int, int, int] | None:
    """(year, month, day, hour, minute) of the first date in `segment`, hour/minute -1 when absent."""
    iso = _DATE_ISO.search(segment)
    if iso:
        y, mo, d = int(iso[1]), int(iso[2]), int(iso[3])
        hh, mm = (int(iso[4]), int(iso[5])) if iso[4] else (-1, -1)
        return y, mo, d, hh, mm
    m = _DATE_MDY.search(segment)
    if m:
        y, mo, d = int(m[3]), MONTHS[m[1].lower()[:3]], int(m[2])
    else:
        m = _DATE_DMY.search(segment)
        if not m:
            return None
        y, mo, d = int(m[3]), MONTHS[m[2].lower()[:3]], int(m[1])
    hh = mm = -1
    t = _TIME.search(segment.replace(m[0], " "))
    if t:
        hh, mm = int(t[1]), int(t[2])
        if t[3] and t[3].lower() == "p" and hh < 12:
            hh += 12
        elif t[3] and t[3].lower() == "a" and hh == 12:
            hh = 0
    return y, mo, d, hh, mm


def parse_dateline(line: str) -> str:
    """ISO date of a line that holds nothing but a publication date ("06:31, Mon, Oct 20, 2025 Updated: 06:39,
    Mon, Oct 20, 2025" -> "2025-10-20T06:31:00"); "" for any other line. The publication time wins over the
    update time."""
    if len(line) > 120:
        return ""
    for word in re.findall(r"[A-Za-z]+", line):
        if word.lower() not in _DATELINE_WORDS:
            return ""
    parts = _UPDATED.split(line, maxsplit=1)
    found = _date_in(parts[0]) or (_date_in(parts[1]) if len(parts) > 1 else None)
    if not found:
        return ""
    y, mo, d, hh, mm = found
    try:
        if hh < 0:
            return datetime(y, mo, d).date().isoformat()
        return datetime(y, mo, d, hh, mm).isoformat()
    except ValueError:
        return ""


def parse_byline(line: str) -> str:
    """The author named by a byline line ("By Jane Smith and Ali Khan"), or ""."""
    if len(line) > 100:
        return ""
    m = _BYLINE.fullmatch(line.strip())
    return m[1].strip(" ,") if m else ""


def normalize_date(value: object) -> str:
    """An ISO 8601 string for a metadata date (ISO text, RFC 2822, "Oct 20, 2025", epoch seconds), else ""."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value  # JavaScript-style milliseconds
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()
        except (ValueError, OverflowError, OSError):
            return ""
    s = " ".join(str(value).split())
    if not s or len(s) > 100:
        return ""
    try:
        datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
        return s
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    try:
        return parsedate_to_datetime(s).isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    found = _date_in(s)
    if found:
        y, mo, d, hh, mm = found
        try:
            return datetime(y, mo, d).date().isoformat() if hh < 0 else datetime(y, mo, d, hh, mm).isoformat()
        except ValueError:
            return ""
    return ""


def strip_header_lines(text: str, *, max_lines: int = 8) -> tuple[str, str, str]:
    """Remove a dateline and a byline found among the first `max_lines` non-empty lines.

    Returns (text without those lines, published_at, author); the metadata is "" when not found.
    """
    lines = text.split("\n", 64)  # the header is near the top; never split the whole of a huge file
    published = author = ""
    seen = 0
    for i, raw in enumerate(lines[:-1] if len(lines) > 64 else lines):
        stripped = raw.strip()
        if not stripped:
            continue
        seen += 1
        if seen > max_lines:
            break
        if not published and (iso := parse_dateline(stripped)):
            published = iso
            lines[i] = ""
        elif not author and seen > 1 and (name := parse_byline(stripped)):  # line 1 is a title ("By The Sea")
            author = name
            lines[i] = ""
    if not published and not author:
        return text, "", ""
    return "\n".join(lines), published, author


def title_from_text(text: str, *, limit: int = 200) -> str:
    """The first non-empty line, markdown heading marks removed, cut at a word boundary when very long."""
    for line in text.split("\n", 50):
        line = line.strip()
        if not line:
            continue
        line = line.lstrip("#").strip().strip("*_").strip() or line
        if len(line) > limit:
            cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
            line = cut.rstrip(" ,;:-") + "…"
        return line
    return ""
