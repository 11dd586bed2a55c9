"""Corpora for reliability runs: a deterministic set of small news articles (`write_corpus`) and a hostile
one (`hostile_corpus`: odd names, huge tokens, deep HTML, bad links)."""

from __future__ import annotations

import os
import random
from pathlib import Path


TOPICS = [
    # (title, outlet, place, actor, subject)
    ("Harbour authority approves new ferry terminal", "Coastal Herald", "Port Wren", "the harbour authority",
     "ferry terminal"),
    ("Regional hospital opens cardiac wing", "Valley Courier", "Ashford", "the health board", "cardiac wing"),
    ("Farmers report record barley harvest", "Agri Weekly", "Millbrook", "the growers' cooperative",
     "barley harvest"),
    ("Tram line extension delayed by survey", "Metro Post", "Kingsbridge", "the transit agency",
     "tram extension"),
    ("University launches coastal erosion study", "Science Daily Wire", "Saltmarsh", "the geology department",
     "erosion study"),
    ("Steelworks to cut emissions with hydrogen", "Industry Ledger", "Ironvale", "the steel company",
     "hydrogen furnace"),
    ("Museum returns bronze statues to lender", "Culture Review", "Old Harrow", "the city museum",
     "bronze statues"),
    ("Wildfire crews contain blaze near reservoir", "Mountain Gazette", "Pine Ridge", "the fire service",
     "reservoir fire"),
    ("Chess prodigy wins national title", "Sports Bulletin", "Larchmont", "the chess federation",
     "national chess title"),
    ("Bank raises savings rates for first time in years", "Finance Today", "Capital City", "the central bank",
     "savings rates"),
    ("Volunteers restore historic lighthouse", "Coastal Herald", "Gull Point", "the heritage trust",
     "lighthouse restoration"),
    ("School district adopts four-day week", "Valley Courier", "Brookfield", "the school board",
     "four-day week"),
]


_SENTENCES = [
    "Officials in {place} said on {day} that {actor} had approved the {subject} after a long review.",
    "The decision follows {n} months of public consultation in {place}, according to a statement.",
    "Critics argued that the {subject} would cost more than the {n2} million pounds first estimated.",
    "A spokesperson for {actor} said the plan had been revised {n} times to answer those concerns.",
    "Residents of {place} gathered at the town hall on {day} evening to hear details of the {subject}.",
    "Local businesses expect about {n2} new jobs once work on the {subject} is complete.",
    "The first phase is due to start in {month}, with completion planned within {n} years.",
    "An independent report commissioned by {actor} found no major risks in the proposal.",
    "Opposition councillors in {place} asked for a further audit of the {subject} budget.",
    "Engineers will publish quarterly progress reports on the {subject} from {month}.",
    "The regional government has pledged {n2} million pounds towards the {subject}.",
    "Environmental groups said they would monitor the effect of the {subject} on wildlife near {place}.",
    "Similar projects elsewhere took {n} years longer than planned, analysts noted.",
    "{actor_cap} will hold another public meeting in {month} to take questions about the {subject}.",
    "Transport links around {place} will be adjusted while the {subject} goes ahead.",
    "Supporters said the {subject} would make {place} a model for other towns in the region.",
]


_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


_MONTHS = ["March", "April", "May", "June", "September", "October"]


def write_corpus(folder: Path, n_articles: int = 12, sentences: int = 26, seed: int = 7) -> list[Path]:
    """`n_articles` plain-text news articles (title line, dateline, ~450 words each: 3-4 chunks at the default
    200-token chunking), deterministic for a given seed. Returns the files in the order ingest walks them."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_articles):
        title, outlet, place, actor, subject = TOPICS[i % len(TOPICS)]
        if i >= len(TOPICS):
            title = f"{title} (part {i // len(TOPICS) + 1})"
        lines = [title, f"{outlet} — {place}, 2024-0{1 + i % 9}-1{i % 10}", ""]
        body = []
        for s in range(sentences):
            tpl = _SENTENCES[(s + i) % len(_SENTENCES)]
            body.append(tpl.format(place=place, actor=actor, actor_cap=actor[0].upper() + actor[1:],
                                   subject=subject, day=rng.choice(_DAYS), month=rng.choice(_MONTHS),
                                   n=rng.randint(2, 9), n2=rng.randint(10, 900)))
            if s % 5 == 4:
                lines.append(" ".join(body))
                lines.append("")
                body = []
        if body:
            lines.append(" ".join(body))
        slug = subject.replace(" ", "_").replace("'", "")
        p = folder / f"{i:02d}_{slug}.txt"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(p)
    return sorted(paths)


def hostile_corpus(folder: Path, hostile_src: Path) -> list[Path]:
    """tests/data/hostile/ plus generated big and oddly named files (a 300 KB token, a 48 KB line, 3,000 lines,
    20,000-deep HTML, names with `..`, `%2e%2e%2f`, spaces, tabs, unicode, 240 characters, a dangling and a looping
    symlink, a JSONL file with bad lines). Sized to embed ~400 chunks: the 300 KB token alone is 250."""
    import shutil as sh

    sh.copytree(hostile_src, folder)
    big = folder / "generated"
    big.mkdir()
    (big / "one_300kb_token.txt").write_text("Giant token\n\n" + "x" * 300_000 + "\n")
    line = "The council met again and discussed the budget at length. " * 800
    (big / "very_long_line.txt").write_text("Long line report\n\n" + line + "\n")
    (big / "many_short_lines.md").write_text("# Many lines\n\n" + "Short line of news.\n" * 3_000)
    (big / "deep_html.html").write_text("<html><body>" + "<div>" * 20_000 + "Deep news text here." +
                                        "</div>" * 20_000 + "</body></html>")
    (big / "%2e%2e%2f%2e%2e%2fescape.txt").write_text("Percent-encoded traversal\n\nA sentence about trains.\n")
    odd = big / "dots..and..dots"
    odd.mkdir()
    (odd / "two..dots..in..name.txt").write_text("Dots\n\nA sentence about harbour dredging.\n")
    (big / "spaces   and\ttab.txt").write_text("Spaces\n\nA sentence about a library budget.\n")
    (big / "ünïcödé 文章 مقالة статия.txt").write_text("Unicode name\n\nA sentence about a clinic opening.\n")
    (big / ("n" * 240 + ".txt")).write_text("Long name\n\nA sentence about a bridge repair.\n")
    os.symlink("/nonexistent/target.txt", big / "dangling_link.txt")
    os.symlink(folder, big / "loop")
    (big / "records_bad.jsonl").write_text('{"title": "ok", "text": "Fine record text."}\n{not json\n[1, 2]\n')
    return sorted(p for p in folder.rglob("*") if "/loop/" not in str(p) and (p.is_file() or p.is_symlink())
                  and p.name != "loop")
