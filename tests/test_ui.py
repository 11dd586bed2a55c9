"""The browser chat without a browser: build_app, the handlers as plain functions, upload safety, serve's bind
check. A small stand-in index keeps these fast (no embedder); tests/test_browser.py drives the real thing."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from rag.errors import ModelUnavailableError, UserError  # noqa: E402
from rag import ArticleInfo  # noqa: E402
from rag.schema import Answer, AnswerSentence, Article, Citation, Hit, IndexReport, Skipped  # noqa: E402
from ui import render  # noqa: E402
from ui.handlers import RagUI, Session, parse_date  # noqa: E402
from ui.uploads import Refused, Saved, check_upload, sanitize_filename, save_upload  # noqa: E402

TEXT = ("Harbour news. <script>alert('x')</script> Officials & unions met on Friday. "
        "Dock workers ended a nine-day strike after a 7 percent pay rise. The port reopens within 48 hours.")
EXCERPT = "Dock workers ended a nine-day strike after a 7 percent pay rise."


class FakeChat:
    def __init__(self, index, model):
        self.index, self.model, self.questions = index, model, []

    def ask_stream(self, question, **filters):
        self.questions.append((question, filters))
        self.index.calls.append(filters)
        a = self.index.article
        if self.index.raise_error:
            raise self.index.raise_error
        if "moon" in question:
            hit = Hit(1, a, a.text[:40], 0, 40, 0.1)
            yield Answer(question, "The articles don't say.", True, (), query="moon", hits=(hit,))
            return
        s = a.text.index(EXCERPT)
        yield "The strike ended "
        yield "[1]."
        c = Citation(1, a, EXCERPT, s, s + len(EXCERPT), 0.9)
        yield Answer(question, "The strike ended after a pay rise [1]. Cats run the port.", False, (c,),
                     query=f"rewritten: {question}",
                     sentences=(AnswerSentence("The strike ended after a pay rise [1].", (1,)),
                                AnswerSentence("Cats run the port.", (), False)))


class FakeIndex:
    """Just the public surface of rag.Index that the UI uses."""

    def __init__(self, path: Path):
        self.path = path
        self.article = Article("a1", "Port <strike> ends", TEXT, "Harbour Times", published_at="2025-10-20",
                               url="javascript:alert(1)")
        self.calls: list[dict] = []
        self.added: list[list[Path]] = []
        self.removed: list[str] = []
        self.raise_error = None

    def stats(self):
        return {"articles": 1, "chunks": 2, "embedder": "fake-embedder", "path": str(self.path)}

    def articles(self):
        return [ArticleInfo("a1", self.article.title, "Harbour Times", "2025-10-20", "", "/elsewhere/a.txt", 2)]

    def get_article(self, article_id):
        return self.article

    def sources(self):
        return [("Harbour Times", 1)]

    def chat(self, model="extractive", **options):
        return FakeChat(self, model)

    def add(self, paths, progress=None):
        paths = [Path(p) for p in paths]
        self.added.append(paths)
        if progress:
            progress("embed", 1, 1)
        bad = [p for p in paths if p.name.startswith("nothing")]
        return IndexReport(added=len(paths) - len(bad), chunks_embedded=1,
                           skipped=tuple(Skipped(str(p), "no article text left") for p in bad))

    def remove(self, ids):
        self.removed.extend(ids)
        return list(ids)


@pytest.fixture
def index(tmp_path) -> FakeIndex:
    (tmp_path / "index").mkdir()
    return FakeIndex(tmp_path / "index")


@pytest.fixture
def ui(index) -> RagUI:
    return RagUI(index)


def _ask(ui: RagUI, question: str, session=None, **settings):
    args = {"model": "extractive", "k": 6, "outlets": [], "date_from": "", "date_to": ""} | settings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = list(ui.respond(question, session, args["model"], args["k"], args["outlets"], args["date_from"],
                               args["date_to"]))
    return outs, [str(w.message) for w in caught]


# ---- build_app --------------------------------------------------------------------------------------------------

def test_build_app_returns_blocks_with_queue(index):
    import gradio as gr

    from ui.app import DEFAULT_CONCURRENCY, build_app

    demo = build_app(index, model="extractive", upload_dir=index.path / "uploads")
    assert isinstance(demo, gr.Blocks)
    assert demo._queue is not None and demo._queue.default_concurrency_limit == DEFAULT_CONCURRENCY
    with pytest.raises(ValueError):
        demo.launch(share=True)


def test_seed_examples_when_seed_is_indexed(index):
    from ui.handlers import SEED_EXAMPLES, example_questions

    assert example_questions(index) == [f"What happened in “{index.article.title}”?"]
    index.article = Article("s", "x", "Daniel Mitov said ... Yvette Cooper echoed ... one in, one out deal")
    assert example_questions(index) == list(SEED_EXAMPLES)


# ---- answering --------------------------------------------------------------------------------------------------

def test_streamed_answer_and_sources_marked_and_escaped(ui, index):
    outs, warned = _ask(ui, "How did the strike end?", outlets=["Harbour Times"], date_from="2025-10-01")
    assert not warned
    assert len(outs) >= 3, "the answer should stream in pieces"
    messages, _, panel, session = outs[-1]
    assert messages[0] == {"role": "user", "content": "How did the strike end?"}
    bubble = messages[-1]["content"]
    assert 'href="#src-0-1"' in bubble and ">[1]</a>" in bubble
    assert 'class="rag-unsupported"' in bubble and "Cats run the port." in bubble
    assert "Searched for: <q>rewritten: How did the strike end?</q>" in bubble
    assert f"<mark>{EXCERPT}</mark>" in panel
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in panel and "<script>" not in panel
    assert "Officials &amp; unions" in panel
    assert "Port &lt;strike&gt; ends" in panel
    assert "javascript:" not in panel, "only http(s) links become clickable"
    assert 'id="src-0-1"' in panel and "Harbour Times · 2025-10-20" in panel
    assert index.calls[-1] == {"k": 6, "sources": ["Harbour Times"], "date_from": "2025-10-01", "date_to": None}
    assert session.panels[len(messages) - 1] == panel


def test_refusal_looks_different(ui):
    outs, _ = _ask(ui, "What about the moon?")
    messages, _, panel, _ = outs[-1]
    assert 'class="rag-refusal"' in messages[-1]["content"] and "The articles don’t say" in messages[-1]["content"]
    assert "rag-cite" not in messages[-1]["content"]
    assert "Closest passages" in panel and "<mark>" in panel


def test_errors_become_a_message_not_a_traceback(ui, index):
    index.raise_error = ModelUnavailableError("the model server at http://x is down; start it")
    outs, warned = _ask(ui, "Anything?")
    bubble = outs[-1][0][-1]["content"]
    assert 'class="rag-error"' in bubble and "the model server at http://x is down" in bubble
    assert warned == ["the model server at http://x is down; start it"]
    index.raise_error = KeyError("boom")
    outs, _ = _ask(ui, "Anything?")
    bubble = outs[-1][0][-1]["content"]
    assert "unexpected KeyError" in bubble and "Traceback" not in bubble


@pytest.mark.parametrize("date_from, date_to, fragment", [
    ("20-10-2025", "", "From date must look like 2025-10-20"),
    ("2025-02-30", "", "is not a real date"),
    ("2025-10-02", "2025-10-01", "From date is after the To date"),
])
def test_bad_dates_are_refused_clearly(ui, date_from, date_to, fragment):
    outs, warned = _ask(ui, "How did the strike end?", date_from=date_from, date_to=date_to)
    assert fragment in outs[-1][0][-1]["content"] and warned


def test_parse_date():
    assert parse_date(" 2025-10-20 ", "From") == "2025-10-20"
    assert parse_date("", "From") is None
    with pytest.raises(UserError):
        parse_date("yesterday", "From")


def test_unavailable_model_cannot_be_used(ui):
    ui.missing["llamacpp:big"] = "pip install big-model"
    session = Session(model="extractive")
    import gradio as gr

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        update, session = ui.pick_model("llamacpp:big", session)
    assert update["value"] == "extractive" and "pip install big-model" in str(caught[0].message)
    outs, _ = _ask(ui, "How did the strike end?", model="llamacpp:big")
    assert "pip install big-model" in outs[-1][0][-1]["content"]
    assert ui.pick_model("extractive", session)[0] == gr.skip()


def test_sessions_keep_separate_histories(ui):
    outs_a, _ = _ask(ui, "How did the strike end?")
    a = outs_a[-1][3]
    outs_b, _ = _ask(ui, "What about the moon?")
    b = outs_b[-1][3]
    _ask(ui, "And then?", session=a)
    assert a is not b and a.chat is not b.chat
    assert [q for q, _ in a.chat.questions] == ["How did the strike end?", "And then?"]
    assert [q for q, _ in b.chat.questions] == ["What about the moon?"]
    assert len(a.messages) == 4 and len(b.messages) == 2
    # clicking the first question or answer shows the first answer's sources again
    assert 'id="src-0-1"' in ui.show_sources(a, 0) and ui.show_sources(a, 1) == ui.show_sources(a, 0)
    assert 'id="src-1-1"' in ui.show_sources(a, 3)
    messages, _, session = ui.new_conversation(a)
    assert messages == [] and session.messages == [] and session.chat is None


def test_markers_only_link_known_citations():
    a = Article("x", "T", "abc")
    ans = Answer("q", "See [1] and [7].", False, (Citation(1, a, "abc", 0, 3),))
    html = render.answer_html(ans, 3)
    assert 'href="#src-3-1"' in html and "[7]" in html and "#src-3-7" not in html


def test_passage_falls_back_when_offsets_do_not_match():
    a = Article("x", "T", "one two three")
    assert render.passage_html(a, 0, 3, "two") == '<div class="rag-context"><mark>two</mark></div>'


# ---- uploads ----------------------------------------------------------------------------------------------------

HOSTILE_NAMES = ["../../etc/passwd.txt", "..\\..\\win.ini.txt", "/abs/path/x.md", "..", ".", "", ".bashrc",
                 "a\x00b.txt", "new\nline.txt", "ｆｕｌｌ／．．／width.txt", "spaces  and\ttabs .TXT",
                 "Zürich – Nachrichten.txt", "x" * 400 + ".txt", "日本語" * 80 + ".md", "\u202etxt.exe",
                 "con.txt", "....txt"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_sanitised_names_stay_inside_the_uploads_folder(tmp_path, name):
    safe = sanitize_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and ".." not in safe
    assert len(safe.encode("utf-8")) <= 120
    src = tmp_path / "src.bin"
    src.write_text("An article body.\n")
    uploads = tmp_path / "index" / "uploads"
    result = save_upload(src, name, uploads)
    if isinstance(result, Saved):
        assert result.path.resolve().parent == uploads.resolve()
    else:
        assert "unsupported file type" in result.reason
    outside = {p for p in tmp_path.rglob("*") if uploads not in p.parents and p != uploads}
    assert outside <= {src, tmp_path / "index"}, "nothing may be written outside the uploads folder"


def test_unicode_is_normalised():
    assert sanitize_filename("Ｒｅｐｏｒｔ.TXT") == "Report.txt"
    assert sanitize_filename("e\u0301te\u0301.md") == "\u00e9t\u00e9.md"


@pytest.mark.parametrize("content, name, fragment", [
    (b"", "empty.txt", "empty file"),
    (b"   \n\t  \n", "blank.md", "only whitespace"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "photo.txt", "binary file"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "setup.html", "binary file"),
    (b"plain text", "notes.docx", "unsupported file type (.docx)"),
    (b"plain text", "README", "unsupported file type (no extension)"),
    (b"not really a pdf", "paper.pdf", "not a PDF"),
    (b"x" * 2048, "big.txt", "too large"),
])
def test_bad_uploads_are_refused_with_a_reason(tmp_path, content, name, fragment):
    src = tmp_path / "upload"
    src.write_bytes(content)
    reason = check_upload(src, name, max_bytes=1024)
    assert reason and fragment in reason
    result = save_upload(src, name, tmp_path / "uploads", max_bytes=1024)
    assert isinstance(result, Refused) and fragment in result.reason
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True


def test_good_uploads_pass(tmp_path):
    for name, data in [("a.txt", "Héllo wörld, a news story.\n".encode()), ("b.pdf", b"%PDF-1.7\n..."),
                       ("c.jsonl", b'{"title": "t", "text": "x"}\n')]:
        src = tmp_path / name
        src.write_bytes(data)
        assert check_upload(src, name) is None, name


def test_same_name_is_deduplicated_and_identical_file_reused(tmp_path):
    uploads = tmp_path / "uploads"
    one, two = tmp_path / "1", tmp_path / "2"
    one.write_text("first story")
    two.write_text("second story")
    a = save_upload(one, "story.txt", uploads)
    b = save_upload(two, "story.txt", uploads)
    c = save_upload(one, "story.txt", uploads)
    assert a.path.name == "story.txt" and b.path.name == "story-2.txt"
    assert c.reused and c.path == a.path
    assert a.path.read_text() == "first story" and b.path.read_text() == "second story"
    assert sorted(p.name for p in uploads.iterdir()) == ["story-2.txt", "story.txt"], "no temporary files left"


def test_add_files_reports_each_refusal_and_indexes_the_rest(ui, index, tmp_path):
    good, binary, empty, nothing = (tmp_path / n for n in ("good.txt", "bin.txt", "empty.txt", "nothing.md"))
    good.write_text("Lunar probe lands on the far side.\n")
    binary.write_bytes(b"\x00\x01\x02" * 100)
    empty.write_bytes(b"")
    nothing.write_text("<!-- -->\n")
    seen = []
    html, files_value, stats, table, picker, outlets = ui.add_files(
        [str(good), str(binary), str(empty), str(nothing)], lambda p, **kw: seen.append(p))
    uploads = index.path / "uploads"
    assert [p.parent for p in index.added[0]] == [uploads, uploads]
    assert "<b>1</b> added" in html
    assert "bin.txt</b>: binary file" in html and "empty.txt</b>: empty file" in html
    assert "nothing.md</b>: no article text left" in html
    assert sorted(p.name for p in uploads.iterdir()) == ["good.txt"], "a file the index skipped is not kept"
    assert seen == [(1, 1)] and files_value is None
    assert "fake-embedder" in stats and "Port &lt;strike&gt; ends" in table


def test_remove_article(ui, index):
    msg, *_ = ui.remove_article("a1")
    assert index.removed == ["a1"] and "Removed" in msg
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        msg, *_ = ui.remove_article(None)
    assert index.removed == ["a1"]


# ---- serve ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.8.7", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_loopback_needs_no_auth(host):
    from rag.cli.serve import check_bind, is_loopback

    assert is_loopback(host)
    assert check_bind(host, None, False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "localhost.evil.com"])
def test_non_loopback_needs_auth_or_explicit_no_auth(host):
    from rag.cli.serve import check_bind

    with pytest.raises(UserError, match="--auth USER:PASSWORD"):
        check_bind(host, None, False)
    assert check_bind(host, "ann:s3cret:x", False) == ("ann", "s3cret:x")
    assert check_bind(host, None, True) is None


def test_malformed_auth():
    from rag.cli.serve import parse_auth

    for bad in ("nocolon", ":pw", "user:"):
        with pytest.raises(UserError):
            parse_auth(bad)


def test_serve_refuses_public_bind_before_touching_disk(tmp_path):
    from rag.cli.serve import serve

    with pytest.raises(UserError, match="reachable from other machines"):
        serve(index=tmp_path / "idx", host="0.0.0.0", port=1)
    assert not (tmp_path / "idx").exists()


def test_cli_serve_public_bind_is_one_line_error(cli, tmp_path):
    r = cli("serve", "--index", str(tmp_path / "idx"), "--host", "0.0.0.0", timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: --host 0.0.0.0")
    assert "Traceback" not in r.stderr
    assert os.environ.get("GRADIO_SHARE") is None
