"""rag.sentences: news sentence boundaries with exact offsets (abbreviations, headlines, captions, line wraps)."""

import json
import random
from pathlib import Path

import pytest

from rag.sentences import sentence_spans, split_sentences

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "multihop-rag" / "corpus.json"


@pytest.mark.parametrize("text, expected", [
    ("Sales rose in the U.S. The company said so.", ["Sales rose in the U.S.", "The company said so."]),
    ("U.S. President Joe Biden spoke at 8 p.m. ET on Friday. It rained.",
     ["U.S. President Joe Biden spoke at 8 p.m. ET on Friday.", "It rained."]),
    ("Mr. Mitov told the Times. Dr. Smith agreed.", ["Mr. Mitov told the Times.", "Dr. Smith agreed."]),
    ("Michigan quarterback J.J. McCarthy heard it. Michael J. Fox met Sen. Warren on Jan. 5 at No. 3 Downing St. in London.",
     ["Michigan quarterback J.J. McCarthy heard it.",
      "Michael J. Fox met Sen. Warren on Jan. 5 at No. 3 Downing St. in London."]),
    ("ANN ARBOR, Mich. – Michigan won. They left.", ["ANN ARBOR, Mich. – Michigan won.", "They left."]),
    ("Apple Inc. said it would. Traits (e.g. political beliefs) count.",
     ["Apple Inc. said it would.", "Traits (e.g. political beliefs) count."]),
    ('"It was great." he said. "Was it?" she asked.', ['"It was great." he said.', '"Was it?" she asked.']),
    ("An OPS of 0.800. Torres also led. Data from Layoffs.fyi. Tech cuts grew.",
     ["An OPS of 0.800.", "Torres also led.", "Data from Layoffs.fyi.", "Tech cuts grew."]),
])
def test_abbreviations_initials_and_quotes(text, expected):
    assert split_sentences(text) == expected


def test_headline_on_its_own_line_is_a_sentence():
    text = "Apple Unveils New iPhone\nThe company announced its phone on Tuesday."
    assert split_sentences(text) == ["Apple Unveils New iPhone", "The company announced its phone on Tuesday."]


def test_headline_glued_to_the_first_sentence_is_split():
    text = ("SBF’s trial has started, this is how he and FTX got here The highly anticipated criminal trial "
            "started Tuesday. It will last weeks.")
    assert split_sentences(text) == ["SBF’s trial has started, this is how he and FTX got here",
                                     "The highly anticipated criminal trial started Tuesday.", "It will last weeks."]


def test_names_after_an_opener_word_are_not_a_glued_headline():
    text = "Mr Mitov told The Times on Monday that it would. Then he left."
    assert split_sentences(text) == ["Mr Mitov told The Times on Monday that it would.", "Then he left."]


def test_caption_line_and_list_items():
    text = ("A Bulgarian minister has warned that agents are behind the crisis (Image: Getty)\n"
            "Russian spies have links to gangs, officials said.\nKey points:\n- one thing\n- another thing")
    assert split_sentences(text) == [
        "A Bulgarian minister has warned that agents are behind the crisis (Image: Getty)",
        "Russian spies have links to gangs, officials said.", "Key points:", "- one thing", "- another thing"]


def test_pdf_line_wraps_do_not_cut_sentences():
    para = ("The deal was announced by Microsoft on Tuesday and it was worth sixty-nine billion dollars, the "
            "company said in a statement to investors. Regulators in the United Kingdom had blocked it for months "
            "before a restructured offer about cloud gaming rights was accepted by the Competition and Markets "
            "Authority in October. Sony had argued that Call of Duty would become an Xbox exclusive.")
    import textwrap
    wrapped = textwrap.fill(para, 72, break_on_hyphens=False) + "\n\n" + textwrap.fill(para, 72, break_on_hyphens=False)
    got = split_sentences(wrapped)
    assert [" ".join(s.split()) for s in got] == split_sentences(para) * 2
    assert len(got) == 6


def test_offsets_are_exact_trimmed_and_cover_every_character():
    text = "  Headline Here\n\nFirst one. Second one?  \n\"Third,\" he said.\nwrapped\n line.  "
    spans = list(sentence_spans(text))
    assert spans == sorted(spans)
    covered = set()
    for s, e in spans:
        piece = text[s:e]
        assert piece == piece.strip() and piece
        covered |= set(range(s, e))
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered


@pytest.mark.skipif(not CORPUS.exists(), reason="MultiHop-RAG corpus not available")
def test_real_articles_keep_offsets_and_coverage():
    articles = json.loads(CORPUS.read_text(encoding="utf-8"))
    for art in random.Random(3).sample(articles, 25):
        text = art["body"]
        prev_end = 0
        n_chars = 0
        for s, e in sentence_spans(text):
            assert prev_end <= s < e and not text[s].isspace() and not text[e - 1].isspace()
            assert not text[prev_end:s].strip()
            n_chars += e - s
            prev_end = e
        assert not text[prev_end:].strip()
