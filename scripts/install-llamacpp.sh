#!/usr/bin/env bash
# Install llama-cpp-python (the 'llamacpp' extra) built for this host without -march=native, so the build never
# uses an instruction the CPU advertises but the OS/VM does not enable (AMX: SIGILL at the first token).
#   bash scripts/install-llamacpp.sh           keep an installed build that only uses features this host enables
#   bash scripts/install-llamacpp.sh --force   rebuild regardless
# The SIMD level comes from /proc/cpuinfo (python3 -m rag.providers.llama_build cmake-args); after the build a one-token
# smoke test runs in a subprocess when a test model is installed, and a crash there rebuilds at the AVX2 baseline.
# --no-cache-dir: pip's wheel cache would otherwise hand back a build made earlier with other flags.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

build() {
  echo "install-llamacpp: building llama-cpp-python $VERSION (5-15 min) with CMAKE_ARGS=$1" >&2
  CMAKE_ARGS="$1" FORCE_CMAKE=1 python3 -m pip install -q --no-cache-dir --force-reinstall --no-deps \
    --no-binary llama-cpp-python "llama-cpp-python==$VERSION"
  # Its runtime and server dependencies, without touching the build just made.
  python3 -m pip install -q "llama-cpp-python[server]==$VERSION"
}

if [[ $force == 0 ]] && python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$VERSION')" 2>/dev/null \
   && python3 -m rag.providers.llama_build check; then
  echo "install-llamacpp: the installed llama-cpp-python $VERSION fits this CPU; nothing to do" >&2
else
  build "$(python3 -m rag.providers.llama_build cmake-args)"
  python3 -m rag.providers.llama_build check
fi
if ! python3 -m rag.providers.llama_build smoke; then
  echo "install-llamacpp: the build crashed on this host; rebuilding at the AVX2 baseline" >&2
  build "$(python3 -m rag.providers.llama_build baseline-args)"
  python3 -m rag.providers.llama_build smoke
fi
