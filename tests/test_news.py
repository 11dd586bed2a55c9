"""Who said what, and when (issue 14): quotes as data, answers from them, dates and filters — on real articles.

Real text: the seed (an Express article), three The Independent articles on Taylor Swift and Travis Kelce from
September, October and December 2023, and Fortune's report of the first day of Sam Bankman-Fried's trial (all from
the MultiHop-RAG corpus, tests/data/news/).
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

import rag
from rag.errors import FilterError
from rag.ingest import load
from rag.news.quotes import extract_quotes

ROOT = Path(__file__).resolve().parent.parent
NEWS = Path(__file__).resolve().parent / "data" / "news"
SEEDS = ROOT / "seeds"
AS_OF = "2023-12-10"


def seed_article():
    return load([SEEDS]).articles[0]


@pytest.fixture(scope="module")
def news_index(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("news-index")
    extra = tmp_path_factory.mktemp("news-extra")
    (extra / "gazette.txt").write_text(
        "Footbridge over the Wensum reopens\n\nBrackenholm Gazette, 3 December 2025\n\n"
        "The footbridge over the Wensum reopened on Tuesday after three months of repairs.\n")
    (extra / "undated.txt").write_text("Footbridge notes\n\nThe footbridge over the Wensum is painted green.\n")
    index = rag.Index.open(path)
    index.add([SEEDS, NEWS, extra])
    yield index
    index.close()


# ---- quotes as data (pure functions) -----------------------------------------------------------------------------
def test_seed_quotes_speakers_roles_and_offsets():
    a = seed_article()
    quotes = extract_quotes(a.text)
    assert quotes and all(a.text[q.start:q.end] == q.quote for q in quotes)
    times = [q for q in quotes if q.quote.startswith("Illegal migration inflows") and q.addressee]
    assert times and times[0].speaker == "Daniel Mitov" and times[0].addressee == "the Times"
    assert times[0].role == "Bulgaria's equivalent of the Home Secretary"
    assert a.text[times[0].role_start:times[0].role_end] == times[0].role
    # the quote that follows in the same paragraph has no name in its sentence
    walls = next(q for q in quotes if "Every house needs walls" in q.quote)
    assert walls.speaker == "Daniel Mitov" and "Mitov" not in walls.quote
    # the opening pull quote ("..., a minister has warned.") is his too
    pull = next(q for q in quotes if q.start < 5)
    assert pull.speaker == "Daniel Mitov"
    cooper = [q for q in quotes if q.speaker == "Yvette Cooper"]
    assert len(cooper) == 2 and all(q.role == "Foreign Secretary" for q in cooper)
    reported = next(q for q in quotes if q.kind == "reported" and "direct links" in q.quote)
    assert reported.speaker == "Daniel Mitov" and reported.verb == "said"


def test_pronoun_and_group_speakers_on_a_trial_report():
    body = json.loads((NEWS / "sbf_trial.jsonl").read_text().splitlines()[0])["body"]
    quotes = extract_quotes(body)
    defraud = next(q for q in quotes if "didn’t defraud anyone" in q.quote)
    assert defraud.speaker == "Mark Cohen" and defraud.role == "one of his lawyers"   # '"...," he said'
    lies = next(q for q in quotes if q.quote.startswith("all of that, all of it"))
    assert lies.speaker == "Thane Rehn" and "prosecutor" in lies.role
    # '"...," he concluded.' two paragraphs after Cohen is named, with only narration between
    stole = next(q for q in quotes if "He didn’t steal any money" in q.quote or "two billion-dollar" in q.quote)
    assert stole.speaker == "Mark Cohen"


def test_title_and_apposition_forms_from_real_sentences():
    text = ("“I think Threads and others have encountered this as well,” adds Pebble co-founder and CTO Michael "
            "Greer, previously Discord engineering head. “The durability of the network effect of Twitter is "
            "stronger than anticipated,” he says.\n\nThe pathogen is “a funky bacterium,” said Dr. David Needle, "
            "pathology section chief at the College of Life Sciences and Agriculture at the University of New "
            "Hampshire.")
    quotes = extract_quotes(text)
    durability = next(q for q in quotes if q.quote.startswith("The durability"))
    assert durability.speaker == "Michael Greer" and "CTO" in durability.role
    funky = next(q for q in quotes if q.quote == "a funky bacterium")
    assert funky.speaker == "David Needle" and funky.role.startswith("pathology section chief")


# ---- stored with the chunks ---------------------------------------------------------------------------------------
def test_quotes_stored_updated_and_removed_with_their_article(tmp_path, embedder):
    src = tmp_path / "src"
    src.mkdir()
    art = src / "seed.txt"
    art.write_text((SEEDS / "000_4b0c6bffbec62fe4.txt").read_text())
    index = rag.Index.open(tmp_path / "ix")
    index.add([src])
    db = tmp_path / "ix" / "index.sqlite3"

    def rows() -> list[tuple]:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT speaker, start, \"end\" FROM quotes").fetchall()

    assert {r[0] for r in rows()} >= {"Daniel Mitov", "Yvette Cooper"}
    art.write_text(art.read_text().replace("Ms Cooper said.", "Ms Cooper said on Monday."))
    index.add([src])
    a = index.articles()[0]
    text = index.get_article(a.id).text
    assert all(text[s:e].strip() for _, s, e in rows())     # offsets follow the new text
    assert any("said on Monday" in text[q.attr_start:q.attr_end] for q in (h.quote for h in index.quotes()))
    index.remove([a.id])
    assert rows() == []
    index.close()


def test_an_index_built_before_quotes_is_read_on_the_fly_and_backfilled(tmp_path, embedder):
    index = rag.Index.open(tmp_path / "ix")
    index.add([SEEDS])
    index.close()
    with sqlite3.connect(tmp_path / "ix" / "index.sqlite3") as c:    # as an older article-rag left it
        c.execute("DROP TABLE quotes")
        c.execute("DROP TABLE quote_scans")
    index = rag.Index.open(tmp_path / "ix")
    assert [h.quote.speaker for h in index.quotes(speaker="Cooper")] == ["Yvette Cooper"] * 2
    index.add([SEEDS])                                               # the next add stores them
    with sqlite3.connect(tmp_path / "ix" / "index.sqlite3") as c:
        assert c.execute("SELECT COUNT(*) FROM quotes").fetchone()[0] > 5
    index.close()


def test_quotes_of_an_article_changed_by_an_older_version_are_read_again(tmp_path, embedder):
    index = rag.Index.open(tmp_path / "ix")
    index.add([SEEDS])
    aid = index.articles()[0].id
    with sqlite3.connect(tmp_path / "ix" / "index.sqlite3") as c:   # text changed by a writer that knew no quotes
        c.execute("UPDATE articles SET content_hash='other' WHERE id=?", (aid,))
    assert index._store.quote_unscanned(1) == [aid]
    assert [h.quote.speaker for h in index.quotes(speaker="Cooper")] == ["Yvette Cooper"] * 2
    index.close()


# ---- surfaces -------------------------------------------------------------------------------------------------
def test_index_quotes_api(news_index):
    found = news_index.quotes("defraud", speaker="Cohen")
    assert found and found[0].quote.speaker == "Mark Cohen"
    j = found[0].to_json()
    assert set(j) >= {"speaker", "role", "organisation", "quote", "article_id", "title", "source", "published_at",
                      "start", "end"}
    assert news_index.get_article(j["article_id"]).text[j["start"]:j["end"]] == j["quote"]
    assert {h.quote.speaker for h in news_index.quotes(speaker="Bulgaria")} == {"Daniel Mitov"}
    assert all(h.article.source == "Fortune" for h in news_index.quotes(sources="fortune"))
    with pytest.raises(FilterError, match="did you mean"):
        news_index.quotes(sources="Fortun")


def test_rag_quotes_cli_json(news_index, cli):
    out = cli("quotes", "hostile regimes", "--speaker", "mitov", "--index", str(news_index.path), "--json")
    assert out.returncode == 0, out.stderr
    quotes = json.loads(out.stdout)["quotes"]
    assert quotes and quotes[0]["speaker"] == "Daniel Mitov"
    for q in quotes:
        assert news_index.get_article(q["article_id"]).text[q["start"]:q["end"]] == q["quote"]


# ---- answers that use them ---------------------------------------------------------------------------------------
def _verbatim(ans) -> None:
    assert ans.citations
    for c in ans.citations:
        assert c.article.text[c.start:c.end] == c.excerpt
    assert all(s.citations for s in ans.sentences)      # every sentence cites


def test_who_said_leads_with_speaker_and_role(seed_index):
    ans = seed_index.ask("Who said that illegal migration is an instrument for hostile regimes?")
    assert ans.text.startswith("Daniel Mitov, Bulgaria's equivalent of the Home Secretary,")
    assert any(c.excerpt.startswith("Illegal migration inflows are an instrument") for c in ans.citations)
    _verbatim(ans)


def test_which_newspaper_did_he_speak_to(seed_index):
    ans = seed_index.ask("Which newspaper did Mitov speak to?")
    assert not ans.refused and ans.text.startswith("The Times.") and "Daniel Mitov" in ans.text
    assert any("Mr Mitov told the Times" in c.excerpt for c in ans.citations)


def test_what_did_a_country_claim_finds_its_official(seed_index):
    ans = seed_index.ask("What did Bulgaria claim about Russia?")
    assert "Daniel Mitov" in ans.text and "direct links between Russia's foreign intelligence agency" in ans.text
    _verbatim(ans)


def test_what_did_name_say_about_topic_gives_quote_and_role_once(seed_index):
    ans = seed_index.ask("What did Daniel Mitov say about walls?")
    assert "Every house needs walls" in ans.text
    assert ans.text.count("Bulgaria's equivalent of the Home Secretary") == 1
    _verbatim(ans)


def test_role_question(seed_index):
    ans = seed_index.ask("What is Yvette Cooper's role?")
    assert ans.text.startswith("Yvette Cooper is Foreign Secretary")
    _verbatim(ans)


def test_chat_follow_up_about_his_lawyers_quotes_the_defence(news_index):
    chat = news_index.chat()
    first = chat.ask("What did the prosecutor say about Sam Bankman-Fried at his trial?")
    assert not first.refused
    ans = chat.ask("What did his lawyers say?")
    assert ans.text.startswith("Mark Cohen, one of his lawyers,")
    assert "Sam didn’t defraud anyone" in ans.text and "built on lies" not in ans.text
    _verbatim(ans)


# ---- time ------------------------------------------------------------------------------------------------------
KELCE = {"2023-09-26": "Fans spot Travis Kelce", "2023-10-04": "Travis Kelce admits",
         "2023-12-06": "Taylor Swift reveals secret start"}


def _days(ans) -> set[str]:
    return {c.article.published_at[:10] for c in ans.citations}


def test_latest_answers_from_the_newest_article(news_index):
    ans = news_index.ask("What is the latest on Taylor Swift and Travis Kelce?", as_of=AS_OF)
    assert not ans.refused and _days(ans) == {"2023-12-06"}
    assert any("newest" in n and "6 December 2023" in n for n in ans.notes)


@pytest.mark.parametrize("month,day", [("October", "2023-10-04"), ("September", "2023-09-26")])
def test_what_did_outlet_report_in_month(news_index, month, day):
    ans = news_index.ask(f"What did The Independent report about Travis Kelce in {month}?", as_of=AS_OF)
    assert not ans.refused and _days(ans) == {day}
    assert any(f"searched {day[:8]}01 to " in n for n in ans.notes)


def test_a_day_with_no_articles_is_said_not_swapped_for_another(news_index):
    ans = news_index.ask("What did The Independent report on December 15, 2023?", as_of=AS_OF)
    assert ans.refused and not ans.citations or _days(ans) <= {"2023-12-15"}
    assert any("2023-12-15" in n for n in ans.notes)


def test_last_week_against_as_of(news_index):
    ans = news_index.ask("What did Taylor Swift reveal about Travis Kelce last week?", as_of="2023-12-08")
    assert not ans.refused and _days(ans) == {"2023-12-06"}
    assert "searched 2023-12-01 to 2023-12-08 (\"last week\")" in ans.notes


def test_cli_ask_shows_window_and_dates(news_index, cli):
    out = cli("ask", "What did The Independent report about Travis Kelce in October?", "--as-of", AS_OF,
              "--index", str(news_index.path))
    assert out.returncode == 0, out.stderr
    assert "(searched 2023-10-01 to 2023-10-31" in out.stdout and "2023-10-04" in out.stdout


# ---- dates from every format -----------------------------------------------------------------------------------
def test_outlet_dateline_in_text(news_index):
    a = next(a for a in news_index.articles() if a.title == "Footbridge over the Wensum reopens")
    assert (a.source, a.published_at) == ("Brackenholm Gazette", "2025-12-03")
    assert "Brackenholm Gazette, 3 December" not in news_index.get_article(a.id).text


def test_pdf_creation_date_and_json_date_shapes(tmp_path):
    from pypdf import PdfReader, PdfWriter

    from tests.test_ingest import PDF_PAGES, make_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES, title="Wind farm approved"))))
    writer.add_metadata({"/CreationDate": "D:20251203091500Z"})
    with open(tmp_path / "a.pdf", "wb") as f:
        writer.write(f)
    recs = [{"title": "A", "body": "Text one.", "datePublished": "2023-10-05T10:00:00Z"},
            {"title": "B", "body": "Text two.", "date": {"$date": 1696500000000}},
            {"title": "C", "body": "Text three.", "publication_date": "Oct 5, 2023"}]
    (tmp_path / "r.json").write_text(json.dumps(recs))
    got = {a.title: a.published_at[:10] for a in load([tmp_path]).articles}
    assert got == {"Wind farm approved": "2025-12-03", "A": "2023-10-05", "B": "2023-10-05", "C": "2023-10-05"}


# ---- filters never fail silently ---------------------------------------------------------------------------------
def test_search_filters_checked_in_the_api(news_index):
    hits = news_index.search("Travis Kelce", k=5, sources="the independent - life and style")
    assert hits and {h.article.source for h in hits} == {"The Independent - Life and Style"}
    with pytest.raises(FilterError, match="did you mean"):
        news_index.search("Travis Kelce", sources=["The Independant - Life and Style"])
    with pytest.raises(FilterError, match="YYYY-MM-DD"):
        news_index.search("Travis Kelce", date_from="2024-13-45")
    with pytest.raises(FilterError):
        news_index.search("Travis Kelce", sources=5)
    undated = news_index.search("footbridge Wensum painted", k=10, date_to="2030-01-01")
    assert all(h.article.published_at for h in undated)
    kept = news_index.search("footbridge Wensum painted", k=10, date_to="2030-01-01", include_undated=True)
    assert any(not h.article.published_at for h in kept)


def test_cli_filters_exit_2_with_help(news_index, cli):
    bad_date = cli("search", "Kelce", "--since", "2024-13-45", "--index", str(news_index.path))
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr and "Traceback" not in bad_date.stderr
    empty = cli("search", "Kelce", "--since", "last week", "--as-of", "2026-06-01", "--index", str(news_index.path))
    assert empty.returncode == 0 and "no matching passages" in empty.stdout
    assert "dated 2023-09-26 to 2025-12-03" in empty.stderr      # says which dates the index does hold
    bad_outlet = cli("ask", "What did Kelce say?", "--source", "independant", "--index", str(news_index.path))
    assert bad_outlet.returncode == 2 and "The Independent - Life and Style" in bad_outlet.stderr
    chat = cli("chat", "--source", "fortune", "--since", "last month", "--as-of", "2023-11-05", "--index",
               str(news_index.path), input="What did his lawyers say about Sam Bankman-Fried?\n")
    assert chat.returncode == 0, chat.stderr
    assert "Mark Cohen" in chat.stdout


def test_an_addressee_keeps_its_abbreviations_and_a_speaker_loses_a_leading_neither():
    # written for this test, in the style of Fortune's Epstein-estate coverage
    text = ("Neither Bryan nor his office answered questions on Tuesday. \u201cIf we never mention Jeffrey Epstein "
            "again, that would be good for me,\u201d Bryan told The St. Thomas Source. \u201cWe will appeal,\u201d "
            "Jane Roe told Reuters. He did not say when.")
    quotes = {q.quote.split(",")[0]: q for q in extract_quotes(text)}
    bryan = quotes["If we never mention Jeffrey Epstein again"]
    assert bryan.speaker == "Bryan" and bryan.addressee == "The St. Thomas Source"
    assert quotes["We will appeal"].addressee == "Reuters"     # a full stop ends any other word


def test_a_sentence_that_opens_with_its_verb_names_the_speaker_after_it():
    # written for this test, in the style of TechCrunch's Pebble shutdown story
    text = ("Pebble had no native mobile app. Co-founder Mike Greer said the team built for the web first. "
            "Notes Greer, \u201cthat might have been a mistake.\u201d")
    q = [q for q in extract_quotes(text) if q.quote.startswith("that might")]
    assert q and q[0].speaker == "Mike Greer" and text[q[0].attr_start:q[0].attr_end] == "Notes Greer"
    # with no earlier mention the speaker is still "Greer", not "Notes Greer"
    q = [q for q in extract_quotes(text.split(". ", 2)[2]) if q.quote.startswith("that might")]
    assert q and q[0].speaker == "Greer"


def test_a_denied_apposition_is_no_role():
    text = ("Attorney general Denise George sued the bank. \u201cI was fired,\u201d Denise George, not the governor, "
            "said on Friday.")
    q = [q for q in extract_quotes(text) if q.quote.startswith("I was fired")]
    assert q and q[0].speaker == "Denise George" and "governor" not in q[0].role


def test_a_which_role_question_wants_a_speaker_in_that_role():
    from rag.answering.news import _fits_which, parse_question
    from rag.schema import Article

    text = ("Governor Albert Bryan leads the territory. \u201cIf we never mention Jeffrey Epstein again, that would be "
            "good for me,\u201d Bryan told reporters. Attorney general Denise George pursued the estate. \u201cI was "
            "fired for it,\u201d George said.")
    art = Article(id="a", title="t", text=text)
    quotes = {q.speaker: q for q in extract_quotes(text)}
    parsed = parse_question("Which attorney general says she was fired over Jeffrey Epstein's estate?")
    assert parsed is not None and parsed.which == "attorney general"
    assert not _fits_which(parsed, quotes["Albert Bryan"], art) and _fits_which(parsed, quotes["Denise George"], art)
    anyone = parse_question("Who said the estate was fired?")
    assert anyone is not None and _fits_which(anyone, quotes["Albert Bryan"], art)
