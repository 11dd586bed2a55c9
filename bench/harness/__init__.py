"""The reliability harness, owned by bench/ and used by the tests too (tests import it as `bench.harness.*`; bench
scripts put the checkout root on sys.path). One module a concern:

    corpus      deterministic and hostile article folders
    cli         `python -m rag.cli ...` subprocesses (ROOT, run_cli, popen_cli, wait_for)
    inspection  an index directory read directly (snapshot, check_consistent), the reference build, kill checks
    crash       kill schedules and runs, read-only index, full disk, hostile files
    injection   prompt-injection questions and detectors; injection_set: the varied-wording injection cases
    load        `rag serve` as a subprocess (Server) and concurrent chat clients (run_load)
    results     bench/results/reliability.json and .md
    net         free_port
"""
