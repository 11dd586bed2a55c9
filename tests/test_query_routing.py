"""Outlet routing (rag.query) must fire on outlet names, not on ordinary words that spell one."""

from rag.retrieval.routing import OutletMatcher, analyze

SOURCES = ["The Independent - Sports", "The Independent - Travel", "The Verge", "TechCrunch", "Fortune", "Wired",
           "The Age", "Cnbc | World Business News Leader"]


def outlets(q: str) -> tuple[str, ...]:
    return analyze(q, OutletMatcher(SOURCES)).outlets


def test_capitalised_outlet_names_route():
    assert outlets("Did The Verge and TechCrunch both report the Epic trial?") == ("The Verge", "TechCrunch")
    assert set(outlets("What did The Independent say about Everton?")) == {
        "The Independent - Sports", "The Independent - Travel"}
    assert outlets("According to Fortune, who won?") == ("Fortune",)


def test_ordinary_words_that_spell_an_outlet_do_not_route():
    assert outlets("How much did Everton overspend, according to the independent commission?") == ()
    assert outlets("Whose fortune grew the most this year?") == ()
    assert outlets("What age does Billie Jean King turn in November?") == ()
    assert outlets("Are the phones wired or wireless?") == ()


def test_all_lower_case_queries_still_route_multi_word_names():
    assert outlets("as reported by the verge and techcrunch") == ("The Verge",)


def test_web_address_names_route_despite_their_lower_case_suffix():
    sources = SOURCES + ["CBSSports.com", "Sporting News"]
    found = analyze("Which sportsbook, as reported by both CBSSports.com and Sporting News, pays out?",
                    OutletMatcher(sources)).outlets
    assert set(found) == {"CBSSports.com", "Sporting News"}
    # The bare word is still only a name when capitalised.
    assert analyze("scores on cbssports.com pages", OutletMatcher(sources)).outlets == ()
