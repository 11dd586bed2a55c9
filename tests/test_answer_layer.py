"""The answer layer on real text: question kinds, short answers from corpus sentences, yes/no verdict features,
the accuracy rule, and end to end through Index.ask on the seed index (verdicts, short answers, paraphrases, the
semantic evidence check, and the generative fallback at the model seam)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from rag.answering.answer_layer import AnswerLayer, instruction_for
from rag.answering.answer_plan import DATE, ENTITY, NUMBER, OPEN, ORGANISATION, PERSON, YESNO, plan, split_parts
from rag.answering.answer import UNCHECKED_NOTE
from rag.answering.citations import Passage, Pool
from rag.evaluation.accuracy import answer_correct, paper_correct
from rag.answering.evidence_check import EvidenceView, attribution, question_names
from rag.providers.base import Model, Prompt
from rag.schema import Article
from rag.answering.short_answers import choose

# Sentences from MultiHop-RAG's corpus.json (The Verge, 2023-10-28 and 2023-10-10; Sporting News 2023-12-21).
VERGE_SBF = ("Sam Bankman-Fried, the founder of failed cryptocurrency exchange FTX, has been found guilty on seven "
             "counts including charges of wire fraud. FTX was a fraud \u201cfrom the start,\u201d the Securities and "
             "Exchange Commission alleged.")
VERGE_SBF_2 = ("Today, that took the form of discussing a damning spreadsheet \u2014 one she prepared for her ex and "
               "boss Sam Bankman-Fried, now the defendant in a criminal fraud trial.")
BILLS = ("The Buffalo Bills (8-6) will be the first foes Los Angeles Chargers (5-9) interim head coach Giff Smith "
         "will face when the teams meet at SoFi Stadium in this Week 16 Saturday matchup.")


def _pool(*docs: tuple[str, str, str]) -> Pool:
    passages = []
    for i, (text, source, published) in enumerate(docs):
        art = Article(id=f"a{i}", title=f"article {i}", text=text, source=source, published_at=published)
        passages.append(Passage(i + 1, art, 0, len(text), i + 1, ((i, 0, len(text)),), 1.0))
    return Pool(passages)


@pytest.mark.parametrize("question,kind,atype", [
    ("Did both The Verge and TechCrunch report that FTX was a fraud?", YESNO, None),
    ("Does the 'Sporting News' article suggest the Seahawks are winning, while the 'Essentially Sports' article "
     "discusses the Astros?", YESNO, None),
    ("Between the Fortune report on October 4, 2023 and the TechCrunch report, was there consistency in the "
     "portrayal of Sam Bankman-Fried?", YESNO, None),
    ("Which company, reported by TechCrunch, invested $26.3 billion to remain the default search engine?", ENTITY,
     ORGANISATION),
    ("Who is the individual facing a criminal trial on fraud and conspiracy charges?", ENTITY, PERSON),
    ("Which newspaper did Mitov speak to?", ENTITY, ORGANISATION),
    ("How many people have been deported under the one in, one out deal?", ENTITY, NUMBER),
    ("When did Bulgaria join the Schengen area?", ENTITY, DATE),
    ("What did Bulgaria claim about Russia?", OPEN, None),
])
def test_plan_reads_the_kind_from_the_question(question, kind, atype):
    p = plan(question)
    assert p.kind == kind
    if atype:
        assert p.answer_type == atype


def test_compound_yes_no_questions_have_one_part_per_clause():
    parts = split_parts("Does the 'Sporting News' article suggest that the Seattle Seahawks are on a winning "
                        "streak, while the 'Essentially Sports' article discusses the Houston Astros?")
    assert len(parts) == 2 and "Seahawks" in parts[0] and "Astros" in parts[1]
    assert plan("Did TechCrunch report on Flipboard after The Verge discussed ActivityPub?").order == "after"
    assert plan("Has the coverage remained consistent or inconsistent?").choices == ("consistent", "inconsistent")


def test_short_answer_is_the_entity_as_the_source_writes_it():
    pool = _pool((VERGE_SBF, "The Verge", "2023-10-28"), (VERGE_SBF_2, "The Verge", "2023-10-10"))
    q = "Who is the individual found guilty on seven counts of wire fraud as the founder of FTX?"
    view = EvidenceView(pool, q, None, embedder=None)
    short = choose(plan(q), view.scores(), q, frozenset({"verg"}))
    assert short is not None and short.text == "Sam Bankman-Fried"
    assert short.text in short.support.unit.text                      # verbatim in the cited sentence


def test_short_answer_keeps_the_article_of_an_organisation_and_numbers_as_written():
    pool = _pool((BILLS, "Sporting News", "2023-12-21"))
    q = "Which team will be the first foes of the Chargers' interim head coach at SoFi Stadium?"
    short = choose(plan(q), EvidenceView(pool, q, None, None).scores(), q, frozenset())
    assert short is not None and short.text == "The Buffalo Bills"
    q2 = "How many counts of wire fraud was the founder of FTX found guilty on?"
    pool2 = _pool((VERGE_SBF, "The Verge", "2023-10-28"))
    short2 = choose(plan(q2), EvidenceView(pool2, q2, None, None).scores(), q2, frozenset())
    assert short2 is not None and short2.text == "seven"


def _short(question: str, *texts: str):
    pool = _pool(*((t, "Test Wire", "2023-11-01") for t in texts))
    return choose(plan(question), EvidenceView(pool, question, None, None).scores(), question, frozenset(), pool)


def test_short_answer_skips_the_initials_of_a_name_the_question_uses():
    # written for this test, in the style of Music Business Worldwide's Hipgnosis coverage
    s = "The HSF board hired Citrin Cooperman to value the catalogue."
    short = _short("Which firm did the board of Hipgnosis Songs Fund hire?", s)
    assert short is not None and short.text == "Citrin Cooperman"
    assert short.text in short.support.unit.text


def test_short_answer_ends_a_name_at_its_possessive():
    s = "Spanish artist I\u00f1igo Quintero\u2019s Si No Est\u00e1s rose to the top of Spotify\u2019s Global Top 50."
    short = _short("Which Spanish artist's song Si No Est\u00e1s rose to the top of Spotify's Global Top 50?", s)
    assert short is not None and short.text == "I\u00f1igo Quintero"


def test_short_answer_wants_money_for_revenue_and_reads_day_month_dates():
    s = ("The business unit reported revenue growth in 27 markets in the third quarter and total sales of "
         "$1.3 billion.")
    short = _short("How much revenue did the business unit report in the third quarter?", s)
    assert short is not None and short.text == "$1.3 billion"
    s2 = "UK clocks go back one hour at 2am on Sunday 29 October, ending British Summer Time."
    short2 = _short("When do UK clocks go back?", s2)
    assert short2 is not None and short2.text == "Sunday 29 October"


def test_a_sentence_opening_word_is_no_name():
    s1 = "Finding food in a tank taught the box jellyfish to avoid obstacles, the study suggests."
    s2 = "The researchers said finding a way around obstacles took the jellyfish a few minutes."
    short = _short("Which animal learned to avoid obstacles in a tank?", s1, s2)
    assert short is None or short.text != "Finding"


def test_question_names_split_possessives_and_skip_dates():
    names = question_names("Did TechCrunch report on Meta's GDPR fine in October?", frozenset({"techcrunch"}))
    assert names == [frozenset({"meta"}), frozenset({"gdpr"})]


def test_attribution_drops_the_quotation_and_names_skip_outlets():
    s = '"Illegal migration inflows are an instrument for hostile regimes," Mr Mitov told the Times.'
    assert attribution(s) == "Mr Mitov told the Times."
    assert attribution("No quotation here at all.") is None
    names = question_names("Did The Verge report that Sam Bankman-Fried testified?", frozenset({"verg"}))
    assert names == [frozenset({"sam", "bankman", "fri"})]


def test_yes_no_layer_gives_a_verdict_and_evidence_per_part():
    pool = _pool((VERGE_SBF, "The Verge", "2023-10-28"), (BILLS, "Sporting News", "2023-12-21"))
    q = ("Did The Verge report that Sam Bankman-Fried was found guilty of wire fraud, while Sporting News "
         "reported that the Buffalo Bills will face the Chargers at SoFi Stadium?")
    layer = AnswerLayer.build(pool, q, None, embedder=None, outlets=["The Verge", "Sporting News"],
                              lexical_ok=True, lexical_coverage=0.8)
    text = layer.extractive_text()
    assert text is not None and re.match(r"(Yes|No)\. ", text)
    assert "[1]" in text and "[2]" in text                          # one cited sentence per outlet named
    assert layer.verdict is not None and len(layer.verdict.parts) == 2
    assert all(p.answered for p in layer.verdict.parts)
    # the order feature reads publication dates: The Verge (Oct 28) came before Sporting News (Dec 21)
    q2 = "Did The Verge report that Bankman-Fried was found guilty before Sporting News previewed the Bills game?"
    l2 = AnswerLayer.build(pool, q2, None, embedder=None, outlets=["The Verge", "Sporting News"],
                           lexical_ok=True, lexical_coverage=0.8)
    l2.extractive_text()
    assert l2.verdict.features["order"] == 1.0


def test_a_part_without_evidence_is_said_plainly():
    pool = _pool((VERGE_SBF, "The Verge", "2023-10-28"), (BILLS, "Sporting News", "2023-12-21"))
    q = ("Did The Verge report that Sam Bankman-Fried was found guilty of wire fraud, while Fortune reported "
         "record quarterly profits at Deutsche Bank?")
    layer = AnswerLayer.build(pool, q, None, embedder=None, outlets=["The Verge", "Sporting News", "Fortune"],
                              lexical_ok=True, lexical_coverage=0.6)
    text = layer.extractive_text()
    assert "The articles don't say" in text


def test_accuracy_rule_needs_a_leading_yes_or_no():
    assert answer_correct("Yes. The Verge said so. [1]", False, ["Yes"], True)
    assert not answer_correct("The Verge said yes. [1]", False, ["Yes"], True)
    assert not answer_correct("No. [1]", False, ["yes"], True)
    assert answer_correct("Sam Bankman-Fried. He was ... [1]", False, ["Sam Bankman-Fried"], True)
    assert answer_correct("The articles don't say.", True, ["Insufficient information."], False)
    assert not answer_correct("Google.", True, ["Google"], True)
    assert paper_correct("The articles don't say.", True, ["Insufficient information."], False)
    assert paper_correct("Google is the answer", False, ["Google"], True)


def test_generative_instruction_asks_for_the_shape_of_the_answer():
    assert "Yes or No" in instruction_for(plan("Did The Verge report X?"))
    assert "name or number" in instruction_for(plan("Which company did TechCrunch name?"))
    assert instruction_for(plan("What did Bulgaria claim about Russia?")) is None


# ---- end to end through Index.ask on the real seed index ---------------------------------------------------

def test_paraphrased_question_is_answered_with_the_entity(seed_index):
    ans = seed_index.ask("Which newspaper did Mitov speak to?")
    assert not ans.refused
    assert ans.text.startswith("The Times.")
    assert any("Mr Mitov told the Times" in c.excerpt for c in ans.citations)
    for c in ans.citations:
        assert c.article.text[c.start:c.end] == c.excerpt


@pytest.mark.parametrize("question,lead", [
    ("Who is Bulgaria's equivalent of the Home Secretary?", "Daniel Mitov."),
    ("How many people have been deported under the one in, one out deal?", "42."),
])
def test_entity_questions_lead_with_the_answer(seed_index, question, lead):
    ans = seed_index.ask(question)
    assert ans.text.startswith(lead)
    assert lead.rstrip(".") in ans.citations[0].excerpt


def test_yes_no_question_leads_with_a_verdict(seed_index):
    ans = seed_index.ask("Did Bulgaria's minister say that Russian intelligence has links to smuggling gangs?")
    assert re.match(r"(Yes|No)\. ", ans.text)
    assert ans.citations and all(c.article.text[c.start:c.end] == c.excerpt for c in ans.citations)


def test_question_about_something_never_mentioned_is_refused(seed_index):
    ans = seed_index.ask("What did the Japanese prime minister Fumio Kishida say about the deal?")
    assert ans.refused


class _Inventor(Model):
    """A scripted generative model at the model seam: it invents a claim with no citation."""

    model_id = "scripted-inventor"
    generative = True
    can_stream = False
    context_tokens = 4096

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        self.prompts.append(prompt)
        yield "Bulgaria claimed that Russia secretly bought the Eiffel Tower in 1999."


def test_unsupported_model_text_is_replaced_by_the_checked_answer(seed_index):
    model = _Inventor()
    ans = seed_index.ask("What did Bulgaria claim about Russia?", model=model, as_of="2025-10-21")
    assert ans.note == UNCHECKED_NOTE and UNCHECKED_NOTE in ans.text
    assert "Eiffel" not in ans.text and "Eiffel" in ans.unverified
    assert ans.citations and all(c.article.text[c.start:c.end] == c.excerpt for c in ans.citations)
    user = model.prompts[0].messages[-1]["content"]
    assert "Today's date: 2025-10-21." in user


def test_a_length_of_time_is_answered_with_its_unit():
    # written for this test, in the style of the Common Sense Media coverage: the count of kids shares more words
    s1 = ("A new study from Common Sense Media researched phone use among a diverse group of 203 kids aged 11 to 17, "
          "and the results were startling.")
    s2 = "Kids spent a median of 4.5 hours per day on their phones, the study found."
    for q in ("How many hours a day did kids aged 11 to 17 spend on their phones in the Common Sense Media study?",
              "According to the Common Sense Media study, how long do kids aged 11 to 17 spend on their phones?"):
        short = _short(q, s1, s2)
        assert short is not None and short.text == "4.5 hours", q
    # a year is no length of time, and neither is money
    s3 = "The deals cost $40 in 2023, and Amazon stretched the sale into 11 days of deals."
    short = _short("Into how many days of deals did Amazon stretch its sale?", s3)
    assert short is not None and short.text == "11 days"


def test_a_title_and_its_particle_are_not_part_of_a_name():
    # written for this test, in the style of the Mayo Clinic hiring story
    s = "Dr. Richard Gray, CEO of Mayo Clinic Arizona, announced the hire on LinkedIn."
    short = _short("Who announced Bhavik Patel's hire on LinkedIn?", s)
    assert short is not None and short.text == "Richard Gray"
