"""Crash safety with real kills, a real read-only directory and a really full disk.

`rag index` / `rag remove` run as subprocesses and get SIGKILLed at seeded random moments; afterwards the index
must open, search, and list exactly the articles of the last completed commit (whole commit batches: every article
with all of its chunks), SQLite chunk ids == FTS rowids == FAISS ids, and a re-run must complete it. The bigger run
is bench/crash_trials.py (its figures are in bench/results/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import rag
from bench.harness.cli import ROOT, run_cli
from bench.harness.corpus import write_corpus
from bench.harness.crash import Kill, full_disk_check, kill_run, kill_schedule, read_only_check, timed_run
from bench.harness.inspection import assert_complete, check_consistent, reference_build, snapshot, verify_after_kill

pytestmark = pytest.mark.slow

SEED = 20240611
COMMIT_EVERY = 4
# 12 whole-run kills + 8 in the writing phase: startup (imports, model load) is most of a run, and kills that all
# land there would prove little. Two trials run side by side (two cores), so each costs about half.
N_WHOLE, N_WRITE = 12, 8
PARALLEL = 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash-corpus")
    write_corpus(folder, n_articles=12)
    return folder


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("crash-ref") / "index"
    ref = reference_build(corpus, path, COMMIT_EVERY)
    # 12 articles in several commits: otherwise a kill could never leave a partial state worth checking
    assert len(ref.spans) == 12 and len(ref.committed) - 1 >= 5
    return ref, path


def _run_pairs(jobs, fn):
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(fn, jobs))


def test_kill_during_index_build_leaves_last_commit(corpus, reference, tmp_path):
    ref, _ = reference
    args = lambda d: ["index", str(corpus), "--index", str(d), "--commit-every", str(COMMIT_EVERY)]  # noqa: E731
    # The normal run time, measured once with two runs side by side, as the trials will run.
    probes = [tmp_path / f"probe{i}" for i in range(PARALLEL)]
    timings = _run_pairs(probes, lambda d: timed_run(args(d), d))
    total = max(t for t, _, _ in timings)
    write_from = min(a for _, a, _ in timings if a is not None)
    for d in probes:
        assert_complete(d, ref)  # an uninterrupted CLI build equals the in-process reference build

    commits = len(ref.committed) - 1
    schedule = kill_schedule(SEED, total, N_WHOLE, N_WRITE, commits, (total - write_from) / commits)
    dirs = [tmp_path / f"trial{i:02d}" for i in range(len(schedule))]
    results = []
    for i in range(0, len(schedule), PARALLEL):
        batch = list(zip(dirs[i:i + PARALLEL], schedule[i:i + PARALLEL]))
        results += _run_pairs(batch, lambda job: (job[0], kill_run(
            args(job[0]), job[1].seconds, index_dir=job[0], after_generation=job[1].after_generation)))

    summary = []
    partial = 0
    for n, (d, res) in enumerate(results):
        assert "Traceback" not in res.stderr or res.killed, res.stderr[-1500:]
        state = verify_after_kill(d, ref)
        partial += 0 < state["articles"] < len(ref.spans)
        summary.append((round(res.kill_at, 1), res.killed, state["articles"], state["generation"]))
        # The re-run completes the set: the CLI for the first partial index (a fresh process, as a user would) and
        # the last trial, the in-process API (same code path, embedder already loaded: time) for the rest.
        if (0 < state["articles"] < len(ref.spans) and partial == 1) or n == len(results) - 1:
            done = run_cli(*args(d), "--json")
            assert done.returncode == 0, done.stderr[-1500:]
        else:
            index = rag.Index.open(d)
            index.add([corpus], commit_every=COMMIT_EVERY)
            index.close()
        assert_complete(d, ref)
    print(f"\nrun {total:.1f} s (database from {write_from:.1f} s); (kill s, killed, articles, generation):", summary)
    assert sum(r.killed for _, r in results) >= len(schedule) - 4, "most trials must really be killed mid-run"
    assert partial >= 1, f"no kill left a partial index, so no commit boundary was tested: {summary}"


def test_kill_during_remove_is_all_or_nothing(reference, tmp_path, corpus):
    ref, built = reference
    victims = sorted(ref.spans)[:5]  # several articles in one `rag remove`: one transaction
    before, after = frozenset(ref.spans), frozenset(ref.spans) - set(victims)
    probe = tmp_path / "probe"
    shutil.copytree(built, probe)
    total, _, _ = timed_run(["remove", *victims, "--index", str(probe)], probe)
    verify_after_kill(probe, ref, allowed=[after])

    # `rag remove` loads no model: a run is mostly startup, and the deletion is one transaction at its end. Half the
    # kills are spread over the whole run, half land just after its commit (the vector-index update and exit).
    base = len(ref.committed) - 1
    schedule = kill_schedule(SEED + 1, total, 4)
    schedule += [Kill(k.seconds, after_generation=base + 1) for k in kill_schedule(SEED + 2, 0.05, 4)]
    dirs = [tmp_path / f"trial{i}" for i in range(len(schedule))]
    for d in dirs:
        shutil.copytree(built, d)
    results = []
    for i in range(0, len(schedule), PARALLEL):
        batch = list(zip(dirs[i:i + PARALLEL], schedule[i:i + PARALLEL]))
        results += _run_pairs(batch, lambda job: (job[0], kill_run(
            ["remove", *victims, "--index", str(job[0])], job[1].seconds, index_dir=job[0],
            after_generation=job[1].after_generation)))
    outcomes = []
    for d, res in results:
        state = verify_after_kill(d, ref, allowed=[before, after])
        outcomes.append(state["articles"])
        index = rag.Index.open(d)
        left = [v for v in victims if index.get_article(v) is not None]
        if left:  # not removed: the re-run removes them
            assert len(left) == len(victims)
            index.remove(left)
        assert {a.id for a in index.articles()} == after
        index.close()
        verify_after_kill(d, ref, allowed=[after])
    print("\nremove: articles after each kill:", outcomes)
    assert set(outcomes) == {len(before), len(after)}, "kills must land both before and after the commit"


# Kill before every SQLite statement and every file rename of a small store session (create, three commits, a
# removal, the vector file): deterministic crash points that random timing would rarely hit, such as the moment
# between creating the tables and writing the manifest. Store level with tiny fake vectors: no model to load.
_CRASH_CHILD = textwrap.dedent("""
    import os, signal, sqlite3, sys
    from pathlib import Path
    import numpy as np
    kill_at = int(sys.argv[2])
    labels = []
    def point(label):
        labels.append(" ".join(str(label).split())[:60])
        if len(labels) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    real_connect, real_replace = sqlite3.connect, os.replace
    def connect(*a, **k):
        c = real_connect(*a, **k)
        c.set_trace_callback(point)
        return c
    def replace(src, dst, **k):
        point(f"rename {os.path.basename(dst)}")
        return real_replace(src, dst, **k)
    sqlite3.connect, os.replace = connect, replace
    from rag.storage import Store
    from rag.schema import Article, Chunk
    m = {"embedder": "fake", "dim": 4, "tokenizer": "t", "chunk_tokens": 200, "overlap_tokens": 48}
    s = Store.open(Path(sys.argv[1]), manifest=m, create=True)
    def art(i):
        return Article(f"a{i}", f"T{i}", "alpha beta gamma delta", "src", "", "2024-01-01", "", f"/x{i}", f"h{i}")
    with s.writer() as w:
        for i in range(3):
            a = art(i)
            w.put_article(a, [Chunk(a.id, 0, 0, 10, "alpha beta", 2), Chunk(a.id, 1, 11, 22, "gamma delta", 2)],
                          np.eye(4, dtype=np.float32)[[i, (i + 1) % 4]])
            w.commit()
    s.vectors()  # loads or builds the vector index, writing its file when there is none
    with s.writer() as w:
        w.delete_article("a1")
        w.commit()
    s.vectors()
    import json
    print(json.dumps(labels))
""")
_STATES = [set(), {"a0"}, {"a0", "a1"}, {"a0", "a1", "a2"}, {"a0", "a2"}]


def _store_state(path: Path):
    from rag.storage import Store

    s = Store.open(path, manifest={"embedder": "fake", "dim": 4, "tokenizer": "t", "chunk_tokens": 200,
                                   "overlap_tokens": 48}, create=True)
    try:
        snap = snapshot(path)
        assert not check_consistent(snap, {a: [(0, 10), (11, 22)] for a in ("a0", "a1", "a2")}), snap
        ids = sorted(int(i) for i in s.vectors().ids()) if hasattr(s.vectors(), "ids") else None
        if ids is not None:
            assert ids == snap.chunk_ids
        return set(snap.articles), snap.generation
    finally:
        s.close()


def _crash_points(labels: list[str]) -> list[int]:
    """Kill points (1-based) worth a subprocess each: every point up to the first write transaction (creating the
    index), every transaction boundary and rename with the point after it, and a seeded sample of the rest."""
    import random

    first_write = next(i for i, l in enumerate(labels) if l.startswith("BEGIN IMMEDIATE"))
    # ("-- ..." labels are FTS5's own statements inside one of ours: a kill there is like any mid-statement kill)
    chosen = {i for i, l in enumerate(labels[:first_write + 1], 1) if not l.startswith("--")}
    for i, label in enumerate(labels, 1):
        if i > first_write and label.split()[0].rstrip(";") in ("BEGIN", "COMMIT", "rename", "ROLLBACK"):
            chosen |= {i, i + 1}
    rest = sorted(set(range(1, len(labels) + 1)) - chosen)
    chosen |= set(random.Random(SEED).sample(rest, min(4, len(rest)))) | {len(labels)}  # last: after all commits
    return sorted(k for k in chosen if k <= len(labels))


def test_kill_at_store_crash_points(tmp_path):
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full = subprocess.run([sys.executable, "-c", _CRASH_CHILD, str(tmp_path / "full"), "0"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    labels = json.loads(full.stdout.splitlines()[-1])
    assert any(l.startswith("COMMIT") for l in labels) and any(l.startswith("rename") for l in labels)
    seen = set()
    points = _crash_points(labels)
    for k in points:
        d = tmp_path / f"k{k}"
        r = subprocess.run([sys.executable, "-c", _CRASH_CHILD, str(d), str(k)], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == -signal.SIGKILL, (k, r.returncode, r.stderr[-800:])
        where = f"killed before point {k}/{len(labels)} ({labels[k - 1]})"
        arts, gen = _store_state(d)  # reopening must work after a kill at any point: no manual clean-up
        assert arts == _STATES[gen], (where, gen, arts)
        seen.add(gen)
        if k % 4 == 0:  # ...and the same session run again completes (every 4th point: time)
            again = subprocess.run([sys.executable, "-c", _CRASH_CHILD, str(d), "0"], env=env,
                                   capture_output=True, text=True, timeout=300)
            assert again.returncode == 0, (where, again.stderr[-800:])
            assert _store_state(d)[0] == {"a0", "a2"}, where
    print(f"\n{len(points)} of {len(labels)} crash points killed; generations seen {sorted(seen)}")
    assert seen >= {0, 1, 2, 3, 4}, seen  # kills landed before, between and after every commit


# ---- a read-only index directory and a full disk ------------------------------------------------------------------
# How: see bench.harness.crash.unprivileged_prefix (root without CAP_DAC_OVERRIDE via setpriv, since chmod does not
# stop root and `nobody` cannot start the interpreter under /root) and full_disk_check (a filled 2 MB tmpfs, or
# RLIMIT_FSIZE where mounting is not permitted).

def _one_line_error(stderr: str, index_dir: Path) -> str:
    err = stderr.strip()
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and str(index_dir) in err, err
    return err.lower()


def test_read_only_index_directory_fails_in_one_line_and_stays_searchable(small_index_dir, tmp_path, corpus):
    ro = tmp_path / "ro-index"
    res = read_only_check(small_index_dir, ro, corpus, "cycle lanes city council")
    if "skipped" in res:
        pytest.skip(res["skipped"])
    for attempt in res["attempts"]:
        assert attempt["exit"] != 0, attempt
        err = _one_line_error(attempt["stderr"], ro)
        assert "permission" in err or "read-only" in err, err
    # still searchable (SQLite cannot create its WAL index file in a read-only directory) and untouched
    assert res["searchable"], res["search_stderr"][-1500:]
    assert res["intact"]


def test_full_disk_fails_in_one_line_and_keeps_the_index(small_index_dir, tmp_path, corpus, reference):
    ref, _ = reference
    res = full_disk_check(small_index_dir, tmp_path, corpus, ref, COMMIT_EVERY, "cycle lanes city council")
    print(f"\nfull disk ({res['how']}): exit {res['exit']}, {res['new_articles_kept']} new articles committed "
          f"before the disk filled; {res['message']}")
    assert res["exit"] != 0
    err = _one_line_error(res["stderr"], tmp_path)
    assert any(w in err for w in ("full", "space", "i/o")), err
    assert res["intact"], res["problems"]          # the previous articles, whole, ids consistent
    assert res["whole_batches"]                    # plus only whole commit batches of the new ones
    assert res["searchable"]
    assert res["completed_after"]                  # with space again the same add completes the set
