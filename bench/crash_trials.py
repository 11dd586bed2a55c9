"""Crash safety and hostile inputs, full form: many SIGKILLs of real `rag index` / `rag remove` processes, a
read-only index directory, a full disk, and `rag index` over the hostile corpus. Writes the "crash" and "hostile"
sections of bench/results/reliability.json (+ .md). The reduced form runs in CI: tests/test_crash_safety.py and
tests/test_security.py.

    python bench/crash_trials.py                         # 40 build kills, 16 remove kills (~40 min on 2 loaded cores)
    python bench/crash_trials.py --build 20 --remove 8   # quicker

Kill times are seeded: a share spread over the whole run (one uniform draw per equal stratum of [0, normal run
time]) and a share over its writing phase (after the database file appears), two runs side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import rag  # noqa: E402
from bench.harness.cli import run_cli  # noqa: E402
from bench.harness.corpus import write_corpus  # noqa: E402
from bench.harness.crash import Kill, full_disk_check, hostile_run, kill_run, kill_schedule, read_only_check, timed_run
from bench.harness.inspection import assert_complete, reference_build, verify_after_kill  # noqa: E402
from bench.harness.results import update_results  # noqa: E402

COMMIT_EVERY = 4
PARALLEL = 2


def pairs(jobs, fn):
    out = []
    with ThreadPoolExecutor(PARALLEL) as pool:
        for i in range(0, len(jobs), PARALLEL):
            out += list(pool.map(fn, jobs[i:i + PARALLEL]))
    return out


def build_trials(work: Path, corpus: Path, ref, n: int, seed: int, log) -> dict:
    args = lambda d: ["index", str(corpus), "--index", str(d), "--commit-every", str(COMMIT_EVERY)]  # noqa: E731
    probes = [work / f"probe{i}" for i in range(PARALLEL)]
    timings = pairs(probes, lambda d: timed_run(args(d), d))
    total = max(t for t, _, _ in timings)
    write_from = min(a for _, a, _ in timings if a is not None)
    n_write = n // 2
    commits = len(ref.committed) - 1
    schedule = kill_schedule(seed, total, n - n_write, n_write, commits, (total - write_from) / commits)
    log(f"build: normal run {total:.1f} s, database after {write_from:.1f} s; {n} kills")
    dirs = [work / f"build{i:03d}" for i in range(len(schedule))]
    results = pairs(list(zip(dirs, schedule)), lambda job: (job[0], kill_run(
        args(job[0]), job[1].seconds, index_dir=job[0], after_generation=job[1].after_generation)))
    survived = partial = rerun_ok = killed = 0
    failures, trials = [], []
    for i, (d, res) in enumerate(results):
        killed += res.killed
        try:
            state = verify_after_kill(d, ref)
            survived += 1
            partial += 0 < state["articles"] < len(ref.spans)
            trials.append({"kill_s": round(res.kill_at, 2), "after_generation": schedule[i].after_generation,
                           "killed": res.killed,
                           "articles": state["articles"], "generation": state["generation"]})
        except AssertionError as err:
            failures.append(f"trial {i} (kill at {res.kill_at:.2f} s): {err}")
            trials.append({"kill_s": round(res.kill_at, 2), "failed": str(err)})
        try:
            if i % 5 == 0:
                r = run_cli(*args(d))
                assert r.returncode == 0, r.stderr[-500:]
            else:
                index = rag.Index.open(d)
                index.add([corpus], commit_every=COMMIT_EVERY)
                index.close()
            assert_complete(d, ref)
            rerun_ok += 1
        except Exception as err:
            failures.append(f"trial {i} re-run: {type(err).__name__}: {err}")
        shutil.rmtree(d, ignore_errors=True)
        log(f"  build {i + 1}/{n}: {trials[-1]}")
    return {"trials": len(results), "killed": killed, "survived": survived, "partial": partial,
            "rerun_completed": rerun_ok, "failures": failures, "run_s": round(total, 1),
            "db_after_s": round(write_from, 1), "seed": seed, "n_whole": n - n_write, "n_write": n_write,
            "articles": len(ref.spans), "chunks": ref.chunk_count, "commits": len(ref.committed) - 1,
            "commit_every": COMMIT_EVERY, "kills": trials}


def remove_trials(work: Path, built: Path, ref, n: int, seed: int, log) -> dict:
    victims = sorted(ref.spans)[:5]
    before, after = frozenset(ref.spans), frozenset(ref.spans) - set(victims)
    probe = work / "rm-probe"
    shutil.copytree(built, probe)
    total, _, _ = timed_run(["remove", *victims, "--index", str(probe)], probe)
    # mostly startup, the deletion is one transaction at the end: half the kills spread over the run, half just
    # after its commit (the vector-index update and exit)
    base = len(ref.committed) - 1
    schedule = kill_schedule(seed + 1, total, n - n // 2)
    schedule += [Kill(k.seconds, after_generation=base + 1) for k in kill_schedule(seed + 2, 0.05, n // 2)]
    dirs = [work / f"rm{i:03d}" for i in range(n)]
    for d in dirs:
        shutil.copytree(built, d)
    results = pairs(list(zip(dirs, schedule)), lambda job: (job[0], kill_run(
        ["remove", *victims, "--index", str(job[0])], job[1].seconds, index_dir=job[0],
        after_generation=job[1].after_generation)))
    survived = rerun_ok = killed = 0
    outcomes, failures = [], []
    for i, (d, res) in enumerate(results):
        killed += res.killed
        try:
            state = verify_after_kill(d, ref, allowed=[before, after])
            survived += 1
            outcomes.append("removed" if state["articles"] == len(after) else "kept")
            index = rag.Index.open(d)
            left = [v for v in victims if index.get_article(v) is not None]
            if left:
                index.remove(left)
            index.close()
            verify_after_kill(d, ref, allowed=[after])
            rerun_ok += 1
        except Exception as err:
            failures.append(f"remove trial {i} (kill at {res.kill_at:.2f} s): {type(err).__name__}: {err}")
            outcomes.append("FAILED")
        shutil.rmtree(d, ignore_errors=True)
    log(f"remove: normal run {total:.1f} s; outcomes {outcomes}")
    counts = {k: outcomes.count(k) for k in ("removed", "kept", "FAILED") if outcomes.count(k)}
    return {"trials": n, "killed": killed, "survived": survived, "rerun_completed": rerun_ok, "victims": len(victims),
            "run_s": round(total, 1), "outcomes": counts, "failures": failures}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=int, default=40, help="kill trials of `rag index` (default 40)")
    ap.add_argument("--remove", type=int, default=16, help="kill trials of `rag remove` (default 16)")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--no-write", action="store_true", help="print, do not update bench/results/")
    args = ap.parse_args()
    command = "python bench/crash_trials.py" + (f" --build {args.build}" if args.build != 40 else "") + \
        (f" --remove {args.remove}" if args.remove != 16 else "")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-trials-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        write_corpus(corpus, n_articles=12)
        built = work / "reference"
        ref = reference_build(corpus, built, COMMIT_EVERY)
        crash = {"command": command}
        crash["build"] = build_trials(work, corpus, ref, args.build, args.seed, log)
        crash["remove"] = remove_trials(work, built, ref, args.remove, args.seed, log)
        small = work / "small"
        index = rag.Index.open(small)
        index.add([ROOT / "tests" / "data" / "articles", ROOT / "seeds"])
        index.close()
        query = "cycle lanes city council"
        ro = read_only_check(small, work / "ro", corpus, query)
        if "skipped" not in ro:
            ro = {"how": ro["how"], "exit": ro["exit"], "message": ro["message"], "intact": ro["intact"],
                  "searchable": ro["searchable"]}
        crash["read_only"] = ro
        fd = full_disk_check(small, work / "fd", corpus, ref, COMMIT_EVERY, query)
        crash["full_disk"] = {"how": fd["how"], "exit": fd["exit"], "message": fd["message"],
                              "intact": fd["intact"] and fd["whole_batches"], "searchable": fd["searchable"],
                              "new_articles_committed_before_full": fd["new_articles_kept"],
                              "completed_after_freeing": fd["completed_after"]}
        crash["elapsed_s"] = round(time.monotonic() - t0)
        try:
            h = hostile_run(work / "hostile", work / "hostile-index", ROOT / "tests" / "data" / "hostile")
            hostile = {"command": command, "exit": h["exit"], "tried": h["tried"], "handled": h["handled"],
                       "indexed_files": h["indexed_files"], "skipped": h["skipped"],
                       "hidden_ignored": h["hidden_ignored"], "unaccounted": h["unaccounted"],
                       "no_traceback": h["no_traceback"], "peak_rss_mb": h["peak_rss_mb"]}
        except Exception:
            hostile = {"command": command, "error": traceback.format_exc()[-2000:]}
    import json

    print(json.dumps({"crash": {k: v for k, v in crash.items() if k != "build"} | {
        "build": {k: v for k, v in crash["build"].items() if k != "kills"}}, "hostile": hostile}, indent=2))
    if not args.no_write:
        update_results("crash", crash)
        update_results("hostile", hostile)
    ok = (crash["build"]["survived"] == crash["build"]["trials"] == crash["build"]["rerun_completed"]
          and crash["remove"]["survived"] == crash["remove"]["trials"] and hostile.get("handled") == hostile.get("tried"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
