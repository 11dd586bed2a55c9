"""Ingest: files and folders -> cleaned `Article`s, or `Skipped` entries that say why not.

Formats: .txt/.md/.markdown (front matter, dateline and byline become metadata), .html/.htm (trafilatura, with an
html.parser fallback), .pdf (pypdf), .json (a list of records, one record, or {"articles": [...]}) and
.jsonl/.ndjson (one record a line). Anything else is sniffed: PDF and HTML by their first bytes, other text as
.txt, binary files are skipped.

Conventions every later stage relies on:
- `Article.text` is the cleaned text (see rag.ingest.cleaning): whitespace normalised, boilerplate lines dropped, kept
  lines unaltered. For .txt/.md the first line (the title when there is no front matter) stays in the text.
- `Article.origin` is the absolute path of the file, plus "#i" for the i-th record (0-based) of a JSON/JSONL file.
  `Skipped.path` is the path as given or walked ("dir/a.jsonl:line 4" / "dir/a.json#3" for one bad record).
- `Article.id` is `article_id(url)` when there is a url, else `article_id(absolute path[#i])`: stable across runs.
- Nothing here raises for a bad input; unreadable inputs become Skipped with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .cleaning import clean_text, title_from_text  # noqa: F401  (title_from_text: public name kept)
from .dateline import headline
from ..errors import IngestError
from .formats import BadRecord, Draft, decode_text, parse_json, parse_jsonl, parse_pdf, parse_text
from .html import parse_html
from ..schema import Article, Skipped

__all__ = ["IngestResult", "article_id", "content_hash", "iter_files", "iter_inputs", "load", "clean_text",
           "read_file", "safe_path"]

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
JSONL_EXTENSIONS = frozenset({".jsonl", ".ndjson"})
# Files of the on-disk index (rag.store); a folder holding them is never read as articles.
_INDEX_MARKERS = ("index.sqlite3", "manifest.json")
_SKIP_DIRS = frozenset({"__pycache__", "node_modules"})
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Program source and configuration: text, but never news; a folder of articles with a script in it should not
# turn the script into an article titled "print(1)".
CODE_EXTENSIONS = frozenset({".py", ".pyi", ".pyw", ".ipynb", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".c",
                             ".h", ".cc", ".cpp", ".hpp", ".cxx", ".java", ".kt", ".go", ".rs", ".rb", ".php", ".pl",
                             ".pm", ".sh", ".bash", ".zsh", ".ps1", ".bat", ".cmd", ".cs", ".swift", ".scala", ".lua",
                             ".r", ".sql", ".css", ".scss", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".lock"})
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class IngestResult:
    articles: tuple[Article, ...]
    skipped: tuple[Skipped, ...]


def article_id(key: str) -> str:
    """Stable id: the first 16 hex chars of sha256(key)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def content_hash(title: str, source: str, author: str, published_at: str, url: str, text: str) -> str:
    joined = "\x1f".join((title, source, author, published_at, url, text))
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def load(paths: Iterable[str | os.PathLike] | str | os.PathLike, **kw) -> IngestResult:
    """Collect `iter_inputs(paths, **kw)` into articles and skipped entries."""
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for item in iter_inputs(paths, **kw):
        (articles if isinstance(item, Article) else skipped).append(item)
    return IngestResult(tuple(articles), tuple(skipped))


def iter_inputs(paths: Iterable[str | os.PathLike] | str | os.PathLike, *,
                max_file_bytes: int = 50_000_000, follow_links: bool = False,
                include_code: bool = False) -> Iterator[Article | Skipped]:
    """One Article per article (per record for JSON/JSONL) or one Skipped per unusable input, in a stable order:
    paths as given, folders walked recursively in sorted order without hidden entries or index folders.

    Inside folders, symbolic links are followed only to targets inside the given paths (a link to /etc/passwd is
    skipped with a reason) unless `follow_links`; a file reached twice (two links, a hard link) is read once.
    Source code (.py, .js, ...) is skipped with a reason unless `include_code`."""
    for item in iter_files(paths, follow_links=follow_links, include_code=include_code):
        if isinstance(item, Skipped):
            yield item
        else:
            yield from read_file(item, max_file_bytes)


def iter_files(paths: Iterable[str | os.PathLike] | str | os.PathLike, *, follow_links: bool = False,
               include_code: bool = False) -> Iterator[str | Skipped]:
    """The walking half of `iter_inputs`: each file to read (its path as walked), or a Skipped, in the same order.
    A distributed reader (rag.ingest.ray_engine) walks here and reads each file with `read_file` elsewhere."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    roots = tuple(os.path.realpath(p) for p in paths if os.path.lexists(p))
    read: dict[tuple[int, int], str] = {}
    for given in paths:
        for shown, entry_error in _walk(given, None if follow_links else roots):
            if entry_error:
                yield Skipped(safe_path(shown), entry_error)
                continue
            if not include_code and os.path.splitext(shown)[1].lower() in CODE_EXTENSIONS:
                yield Skipped(safe_path(shown), "source code, not an article (index it with --include-code)")
                continue
            try:
                st = os.stat(shown)
                key = (st.st_dev, st.st_ino)
            except OSError:
                key = None
            if key is not None and key in read:
                yield Skipped(safe_path(shown), f"the same file as {safe_path(read[key])}")
                continue
            if key is not None:
                read[key] = shown
            yield shown


def read_file(shown: str, max_file_bytes: int = 50_000_000) -> Iterator[Article | Skipped]:
    """The articles of one file (as `iter_inputs` reads it), or Skipped entries that say why not."""
    for item in _read_file(shown, max_file_bytes):
        yield Skipped(safe_path(item.path), item.reason) if isinstance(item, Skipped) else item


def safe_path(path: str) -> str:
    """A path as text every encoder accepts (SQLite, JSON, a terminal): bytes that are not UTF-8, which os
    hands over surrogate-escaped, are shown as \\xNN; the file itself is still opened by its real name."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name (JSON "\\ud800")
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


# ---- walking ----------------------------------------------------------------------------------------------------

def _is_index_dir(path: str) -> bool:
    return all(os.path.isfile(os.path.join(path, m)) for m in _INDEX_MARKERS)


def _inside(target: str, roots: tuple[str, ...]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _walk(path: str, roots: tuple[str, ...] | None = None) -> Iterator[tuple[str, str]]:
    """(path, "") for each file to read, (path, reason) for each entry that cannot be read. `roots`: links
    inside folders are followed only to targets under these real paths (None: any target)."""
    if not os.path.lexists(path):
        yield path, "no such file or directory"
        return
    if os.path.isdir(path):
        if _is_index_dir(path):
            yield path, "an article-rag index folder, not articles"
            return
        yield from _walk_dir(path, roots)
    elif not os.path.exists(path):
        yield path, "broken symbolic link"
    else:
        yield path, ""


def _walk_dir(root: str, roots: tuple[str, ...] | None = None) -> Iterator[tuple[str, str]]:
    """Depth-first in sorted order with an explicit stack: a very deep tree cannot exhaust Python's recursion."""
    # (path, (device, inode), remaining entries); the inode, not realpath, names a folder: realpath costs one
    # lstat per path component, which makes a deep tree quadratic.
    stack: list[tuple[str, tuple[int, int], Iterator[os.DirEntry]]] = []
    open_dirs: set[tuple[int, int]] = set()

    def enter(path: str) -> str:
        try:
            st = os.stat(path)
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            return f"cannot list folder ({err.strerror or err})"
        key = (st.st_dev, st.st_ino)
        names = {e.name for e in entries}
        if key in open_dirs or all(m in names for m in _INDEX_MARKERS):
            return ""  # a symlink back into a folder being walked would never end; index folders are ours
        stack.append((path, key, iter(entries)))
        open_dirs.add(key)
        return ""

    if err := enter(root):
        yield root, err
    while stack:
        parent, key, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            open_dirs.discard(key)
            continue
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            continue
        child = os.path.join(parent, entry.name)
        if roots is not None and entry.is_symlink() and not _inside(os.path.realpath(child), roots):
            yield child, "symbolic link to outside the indexed folders (not followed; use --follow-links)"
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if err := enter(child):
                yield child, err
        elif not os.path.exists(child):
            yield child, "broken symbolic link"
        else:
            yield child, ""


# ---- reading ----------------------------------------------------------------------------------------------------

def _read_file(shown: str, max_file_bytes: int) -> Iterator[Article | Skipped]:
    try:
        yield from _read_file_unguarded(shown, max_file_bytes)
    except IngestError as err:
        yield Skipped(shown, str(err))
    except OSError as err:
        yield Skipped(shown, f"cannot read file ({err.strerror or type(err).__name__})")
    except Exception as err:  # a parser bug on one hostile file must not stop the other files
        msg = " ".join(str(err).split())[:160]
        yield Skipped(shown, f"could not read file ({type(err).__name__}{': ' + msg if msg else ''})")


def _read_file_unguarded(shown: str, max_file_bytes: int) -> Iterator[Article | Skipped]:
    st = os.stat(shown)
    if not stat.S_ISREG(st.st_mode):
        raise IngestError("not a regular file")  # a FIFO or device would block or never end
    if st.st_size > max_file_bytes:
        raise IngestError(f"file too large ({_size(st.st_size)} > {_size(max_file_bytes)} limit; "
                          "raise max_file_bytes to read it)")
    with open(shown, "rb") as f:
        data = f.read(max_file_bytes + 1)  # the file may have grown since stat
    if len(data) > max_file_bytes:
        raise IngestError(f"file too large (over the {_size(max_file_bytes)} limit; raise max_file_bytes to read it)")
    if not data.strip():
        raise IngestError("empty file")
    absolute = os.path.abspath(shown)
    ext = os.path.splitext(shown)[1].lower()
    if ext == ".pdf" or (ext not in TEXT_EXTENSIONS | HTML_EXTENSIONS and data.startswith(b"%PDF-")):
        if not data.startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
            raise IngestError("not a PDF file (no %PDF header)")
        yield _finish(parse_pdf(data), shown, absolute)
        return
    text = decode_text(data)
    if not text.strip():
        raise IngestError("empty file")
    if ext == ".json" or ext in JSONL_EXTENSIONS:
        parse = parse_json if ext == ".json" else parse_jsonl
        for item in parse(text):
            if isinstance(item, BadRecord):
                yield Skipped(shown + item.where, item.reason)
            else:
                yield _finish(item, shown, absolute)
        return
    if ext in HTML_EXTENSIONS or (ext not in TEXT_EXTENSIONS and _looks_like_html(text)):
        yield _finish(parse_html(text), shown, absolute)
        return
    yield _finish(parse_text(text), shown, absolute)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} KB" if n >= 1000 else f"{n} bytes"


def _looks_like_html(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) and "<html" in text[:4096].lower()


def _one_line(value: str, limit: int) -> str:
    value = " ".join(_UNSAFE_CHARS.sub("", value).split())
    return value if len(value) <= limit else value[:limit].rstrip() + "…"


def _finish(draft: Draft, shown: str, absolute: str) -> Article | Skipped:
    """Clean a draft into an Article; its id, origin and hash follow the module conventions."""
    suffix = "" if draft.record is None else f"#{draft.record}"
    text = clean_text(draft.text)
    if _SURROGATE.search(text):  # e.g. "\\ud800" in JSON: no UTF-8 form, SQLite could not store it
        return Skipped(shown + suffix, "text holds invalid Unicode (a lone surrogate)")
    if not text:
        return Skipped(shown + suffix, "no article text left after removing boilerplate")
    title = _one_line(draft.title, 300) or headline(text)
    source = _one_line(draft.source, 200)
    author = _one_line(draft.author, 300)
    published_at = _one_line(draft.published_at, 64)
    url = _one_line(draft.url, 2000)
    return Article(
        id=article_id(url or absolute + suffix),
        title=title,
        text=text,
        source=source,
        author=author,
        published_at=published_at,
        url=url,
        origin=safe_path(absolute) + suffix,
        content_hash=content_hash(title, source, author, published_at, url, text),
    )
