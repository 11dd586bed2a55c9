"""Crash injection and hostile conditions: SIGKILL at scheduled moments, a read-only index, a full disk, hostile
files. Procedures shared by the tests and bench/crash_trials.py."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cli import ROOT, cli_cmd, cli_env, popen_cli, run_cli, wait_for
from .corpus import hostile_corpus
from .inspection import Reference, check_consistent, current_generation, snapshot


@dataclass
class KillResult:
    kill_at: float
    killed: bool          # False: the run had already finished by then
    returncode: int
    elapsed: float
    stderr: str


def kill_run(args: list[str], kill_at: float, timeout: float = 600, index_dir: Path | None = None,
             after_generation: int | None = None) -> KillResult:
    """Start `python -m rag.cli ARGS`, SIGKILL it `kill_at` seconds later (unless it finished). With
    `after_generation`, the clock starts when `index_dir` has committed that generation (0: when its database
    exists), so the kill lands inside the writing phase however long startup took on a loaded machine."""
    import signal

    t0 = time.monotonic()
    proc = popen_cli(*args)
    if after_generation is not None:
        def reached():
            g = current_generation(index_dir)
            return (g is not None and g >= after_generation) or proc.poll() is not None

        wait_for(reached, timeout, interval=0.01)
    try:
        proc.wait(timeout=kill_at)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        killed = True
    _, err = proc.communicate(timeout=timeout)
    return KillResult(kill_at, killed, proc.returncode, time.monotonic() - t0, err)


def timed_run(args: list[str], index_dir: Path, timeout: float = 900) -> tuple[float, float | None, str]:
    """Run once to completion: (seconds, seconds until the database file appeared or None, stderr)."""
    t0 = time.monotonic()
    proc = popen_cli(*args)
    appeared = None
    while proc.poll() is None:
        if appeared is None and (Path(index_dir) / "index.sqlite3").exists():
            appeared = time.monotonic() - t0
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise TimeoutError(f"rag {' '.join(args)} took over {timeout} s")
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rag {' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return time.monotonic() - t0, appeared, err


@dataclass(frozen=True)
class Kill:
    seconds: float                  # after the start, or after `after_generation` was committed
    after_generation: int | None = None


def kill_schedule(seed: int, total: float, n_whole: int, n_write: int = 0, commits: int = 0,
                  commit_interval: float = 0.0) -> list[Kill]:
    """`n_whole` kills spread over the whole run [0, total] (one uniform draw per equal stratum), then `n_write`
    inside the writing phase: after a commit g (0 = the database appeared) drawn in turn from 0..commits-1, a
    uniform fraction of one commit interval later, so every commit window gets kills whatever startup cost."""
    rng = random.Random(seed)
    kills = [Kill((i + rng.random()) / n_whole * total) for i in range(n_whole)]
    for i in range(n_write):
        kills.append(Kill(rng.random() * commit_interval, after_generation=i % max(commits, 1)))
    return kills


def unprivileged_prefix(probe_dir: Path) -> tuple[list[str] | None, str]:
    """(command prefix, how) to run a writer for which permission bits bind; (None, why) when impossible here.

    As an ordinary user: no prefix. As root (this container, CI) chmod alone stops nothing, and `su nobody` cannot
    start Python here (/root, which holds the interpreter, is mode 700); so keep uid 0 but drop CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH and CAP_FOWNER from the bounding set with setpriv: root is then held to the owner's
    permission bits like any user."""
    import shutil as sh

    if os.geteuid() != 0:
        return [], "chmod -R a-w as an ordinary user"
    if sh.which("setpriv") is None:
        return None, "running as root without setpriv"
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable"]
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe_dir / 'probe')!r}, 'w')"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return None, "setpriv did not drop root's permission override"
    return prefix, "chmod -R a-w, writer run as root without CAP_DAC_OVERRIDE (setpriv)"


def _chmod_tree(path: Path, writable: bool) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | 0o200 if writable else mode & ~0o222)


def read_only_check(built: Path, work: Path, corpus: Path, query: str) -> dict:
    """Copy `built` to `work`, make it read-only, try `rag index` and `rag remove` into it and `rag search` from it.
    Returns what happened; `skipped` is set when this machine cannot make a directory read-only for the writer."""
    import shutil as sh

    sh.copytree(built, work)
    before = snapshot(work)
    _chmod_tree(work, writable=False)
    try:
        prefix, how = unprivileged_prefix(work)
        if prefix is None:
            return {"skipped": how}
        attempts = []
        for args in (["index", str(corpus), "--index", str(work)],
                     ["remove", sorted(before.articles)[0], "--index", str(work)]):
            r = run_cli(*args, prefix=prefix)
            attempts.append({"args": args[0], "exit": r.returncode, "stderr": r.stderr})
        s = run_cli("search", query, "--index", str(work), "--json", prefix=prefix)
        hits = json.loads(s.stdout)["hits"] if s.returncode == 0 else []
    finally:
        _chmod_tree(work, writable=True)
    after = snapshot(work)
    intact = (after.generation, after.articles, after.chunk_ids) == (before.generation, before.articles,
                                                                      before.chunk_ids) \
        and not check_consistent(after, before.articles)
    return {"how": how, "attempts": attempts, "exit": attempts[0]["exit"],
            "message": attempts[0]["stderr"].strip(), "search_exit": s.returncode, "search_stderr": s.stderr,
            "searchable": s.returncode == 0 and bool(hits) and all(h["text"] for h in hits), "intact": intact}


def small_filesystem(where: Path, size_kb: int) -> Path | None:
    """A real filesystem of `size_kb` (tmpfs) when this process may mount; None otherwise."""
    where.mkdir(parents=True)
    if os.environ.get("RAG_TEST_NO_MOUNT"):
        return None
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
                       capture_output=True, text=True)
    return where if r.returncode == 0 else None


def _limit_file_size() -> None:
    """In the child before exec: no file may grow past 96 KB; writes beyond fail with EFBIG instead of killing."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))


def full_disk_check(built: Path, work: Path, corpus: Path, ref: "Reference", commit_every: int,
                    query: str) -> dict:
    """Index `corpus` into a copy of `built` on a filesystem with ~160 KB free (a 2 MB tmpfs, filled), or, where
    mounting is not allowed, with RLIMIT_FSIZE = 96 KB (SIGXFSZ ignored, so writes fail with EFBIG as a full disk
    makes them fail with ENOSPC). Then free the space and finish the job. Returns what happened."""
    import shutil as sh

    mnt = small_filesystem(work / "mnt", 2048)
    if mnt is not None:
        index_dir, how, preexec = mnt / "index", "tmpfs of 2 MB filled to ~160 KB free", None
    else:
        index_dir, how, preexec = work / "index", "RLIMIT_FSIZE 96 KB (no permission to mount)", _limit_file_size
    try:
        sh.copytree(built, index_dir)
        before = snapshot(index_dir)
        if mnt is not None:
            free = sh.disk_usage(mnt).free
            with open(mnt / "filler", "wb") as f:
                f.write(b"\0" * max(0, free - 160 * 1024))
        r = run_cli("index", str(corpus), "--index", str(index_dir), "--commit-every", str(commit_every),
                    timeout=900, preexec_fn=preexec)
        if mnt is not None:
            (mnt / "filler").unlink()
        snap = snapshot(index_dir)
        spans = {**before.articles, **ref.spans}
        problems = check_consistent(snap, spans)
        kept = all(snap.articles.get(a) == s for a, s in before.articles.items())
        new = frozenset(snap.articles) - frozenset(before.articles)
        whole_batches = new in set(ref.committed)
        s = run_cli("search", query, "--index", str(index_dir), "--json")
        searchable = s.returncode == 0 and bool(json.loads(s.stdout)["hits"])
        import rag

        index = rag.Index.open(index_dir)
        index.add([corpus], commit_every=commit_every)  # with space again, the same add completes the set
        index.close()
        final = snapshot(index_dir)
        completed = final.articles == spans and not check_consistent(final, spans)
        return {"how": how, "exit": r.returncode, "stderr": r.stderr, "message": r.stderr.strip(),
                "problems": problems, "intact": kept and not problems, "new_articles_kept": len(new),
                "whole_batches": whole_batches, "searchable": searchable, "completed_after": completed}
    finally:
        if mnt is not None:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def hostile_run(folder: Path, index_dir: Path, hostile_src: Path) -> dict:
    """`rag index` over the hostile corpus in a subprocess; accounts for every file and samples peak RSS."""
    import psutil

    files = hostile_corpus(folder, hostile_src)
    proc = psutil.Popen(cli_cmd("index", str(folder), "--index", str(index_dir), "--json"), cwd=ROOT,
                        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    report = json.loads(out) if proc.returncode == 0 and out.strip() else {"skipped": []}
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    origins: set[str] = set()
    if (index_dir / "index.sqlite3").exists():
        conn = sqlite3.connect(index_dir / "index.sqlite3")
        origins = {r[0] for r in conn.execute("SELECT origin FROM articles")}
        conn.close()
    # a skipped record is "file:line N" (JSONL) or "file#N" (JSON); an article's origin is "path" or "path#N"
    skipped_files = {re.sub(r"(:line \d+|#\d+)$", "", k) for k in skipped}
    origins = {re.sub(r"#\d+$", "", o) for o in origins}
    # hidden files (".name") are never read, by design (rag.ingest: uploads in progress are hidden files)
    hidden = [f for f in files if f.name.startswith(".")]
    files = [f for f in files if not f.name.startswith(".")]
    accounted = {str(f): (os.path.abspath(f) in origins, str(f) in skipped_files) for f in files}
    return {"exit": proc.returncode, "stderr": err, "report": report, "tried": len(files),
            "hidden_ignored": len(hidden),
            "handled": sum(a or s for a, s in accounted.values()),
            "indexed_files": sum(a for a, _ in accounted.values()), "skipped": len(skipped),
            "unaccounted": [f for f, (a, s) in accounted.items() if not (a or s)],
            "bad_reasons": [k for k, v in skipped.items() if not v or "\n" in v],
            "no_traceback": "Traceback" not in err, "peak_rss_mb": round(peak / 2**20)}
