"""Taking files from the browser: safe names, early refusals with a reason, copies that stay inside one folder.

Nothing here imports gradio, so it is tested as plain functions. The browser hands us a temporary path and the
name the user's machine gave the file; that name is untrusted (`../../etc/passwd`, NUL bytes, 4 KB of emoji),
so it only ever contributes a sanitised basename, and every destination is checked to resolve inside the
uploads folder before a byte is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# What rag.ingest reads (by extension); anything else is refused here rather than sniffed, so a user learns
# at once that a .docx or .exe will not work.
ALLOWED_SUFFIXES = (".txt", ".text", ".md", ".markdown", ".html", ".htm", ".xhtml", ".pdf", ".json", ".jsonl",
                    ".ndjson")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Bytes, not characters: filesystems cap names at 255 bytes and a CJK character is 3 bytes in UTF-8.
MAX_NAME_BYTES = 120
_SNIFF_BYTES = 64 * 1024
_COPY_BLOCK = 1 << 20
_FORBIDDEN = re.compile(r'[<>:"|?*\\/\x00-\x1f\x7f]')


@dataclass(frozen=True)
class Saved:
    name: str        # what the user called it (for messages)
    path: Path       # where it now lives, inside the uploads folder
    reused: bool     # an identical file of that name was already there


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str


def sanitize_filename(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A basename safe to create in a folder: no separators, no `..`, no control characters, not hidden,
    NFKC-normalised (so a fullwidth solidus cannot smuggle a separator past the split), at most `max_bytes`."""
    name = unicodedata.normalize("NFKC", str(name))
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control, format, surrogate...
    name = _FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", "_", name)
    name = re.sub(r"\.{2,}", ".", name).strip("._- ")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix):
        stem, suffix = name, ""
    suffix = f".{suffix.lower()}" if suffix else ""
    stem = stem.strip("._- ") or "upload"
    budget = max(1, max_bytes - len(suffix.encode()))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip("._- ") or "upload"
    return stem + suffix


def check_upload(path: str | os.PathLike, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
    """Why this upload cannot be indexed, or None when it looks usable. Reads at most 64 KB."""
    suffix = Path(sanitize_filename(name)).suffix
    if suffix not in ALLOWED_SUFFIXES:
        shown = suffix or "no extension"
        return f"unsupported file type ({shown}); use one of {', '.join(ALLOWED_SUFFIXES)}"
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as err:
        return f"could not read the upload ({err.strerror or type(err).__name__})"
    if size == 0:
        return "empty file"
    if size > max_bytes:
        return f"too large ({_mb(size)}; the limit is {_mb(max_bytes)})"
    if suffix == ".pdf":
        return None if head.startswith(b"%PDF-") else "not a PDF (the file does not start with %PDF-)"
    if _looks_binary(head):
        return "binary file, not text (a renamed image, archive or program?)"
    if not head.strip() and size <= _SNIFF_BYTES:
        return "empty file (only whitespace)"
    return None


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True  # NUL never appears in UTF-8/Latin-1 text; UTF-16 text is rare enough to refuse
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(8, len(head) // 20)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_COPY_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _inside(folder: Path, candidate: Path) -> bool:
    return candidate.resolve().parent == folder.resolve()


def save_upload(src: str | os.PathLike, name: str, folder: Path, *,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Saved | Refused:
    """Check the upload and copy it into `folder` under a sanitised, unused name.

    An identical file already saved under that name is reused (re-uploading is a no-op for the index);
    a different file with the same name gets `-2`, `-3`, ... Never overwrites, never leaves `folder`.
    """
    reason = check_upload(src, name, max_bytes=max_bytes)
    if reason:
        return Refused(name, reason)
    folder.mkdir(parents=True, exist_ok=True)
    safe = sanitize_filename(name)
    stem, suffix = os.path.splitext(safe)
    # Written under a hidden temporary name first: rag.ingest skips dot-files, so a half-copied upload is never
    # indexed, and the final name is claimed with link(), which fails instead of replacing an existing file.
    tmp = folder / f".{secrets.token_hex(8)}.part"
    if not _inside(folder, tmp):
        return Refused(name, "the uploads folder is not a plain folder")
    try:
        digest = _copy_capped(Path(src), tmp, max_bytes)
        if digest is None:
            return Refused(name, f"too large (the limit is {_mb(max_bytes)})")
        for i in range(1, 1000):
            candidate = folder / (safe if i == 1 else f"{stem}-{i}{suffix}")
            if not _inside(folder, candidate):
                return Refused(name, "could not find a safe file name")
            if candidate.exists():
                if candidate.is_file() and not candidate.is_symlink() and _sha256(candidate) == digest:
                    return Saved(name, candidate, reused=True)
                continue
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                continue  # another session claimed it between exists() and link()
            return Saved(name, candidate, reused=False)
        return Refused(name, "too many files with this name in the uploads folder")
    except OSError as err:
        return Refused(name, f"could not save the upload ({err.strerror or type(err).__name__})")
    finally:
        tmp.unlink(missing_ok=True)


def _copy_capped(src: Path, dst: Path, max_bytes: int) -> str | None:
    """Copy src to a new file dst; the sha256 of the bytes, or None if more than max_bytes arrived (the
    temporary file may have grown since it was checked)."""
    h = hashlib.sha256()
    n = 0
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        for block in iter(lambda: fin.read(_COPY_BLOCK), b""):
            n += len(block)
            if n > max_bytes:
                return None
            h.update(block)
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())
    return h.hexdigest()
