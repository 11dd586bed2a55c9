"""How often the question-analysis functions run per question (query weights, filter checks, query checks, time
words): each function is wrapped where its module bound it, the seed questions are asked (extractive), and the
calls are averaged. Run it with PYTHONPATH at each checkout to compare (bench/results/structure_equivalence.md).

    PYTHONPATH=/work/main python bench/question_call_counts.py /tmp/seed-index tests/data/seed_qa.jsonl
"""
import collections, json, sys
import rag
ix = rag.Index.open(sys.argv[1], create=False)
qs = [json.loads(l)["question"] for l in open(sys.argv[2]) if l.strip()]
ix.ask(qs[0])  # loads every module on the path
counts = collections.Counter()
names = ("query_weights", "check", "check_dates", "check_sources", "check_filters", "check_query", "time_intent",
         "plan_time")
for mname, mod in list(sys.modules.items()):
    if not mname.startswith("rag.") or mod is None:
        continue
    for n in names:
        f = getattr(mod, n, None)
        if callable(f) and getattr(f, "__module__", "").startswith("rag."):
            def wrap(f=f, key=f"{f.__module__}.{f.__name__}"):
                def w(*a, **k):
                    counts[key] += 1
                    return f(*a, **k)
                return w
            setattr(mod, n, wrap())
for q in qs:
    ix.ask(q)
print(len(qs), json.dumps({k: round(v / len(qs), 2) for k, v in sorted(counts.items())}))
