#!/usr/bin/env bash
# Brings this checkout to working: installs what is missing (system packages, npm
# dependencies, the native addon, the TypeScript build) and skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'ganforge setup: %s\n' "$*" >&2; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
{ command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1; } || missing+=(g++ make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/ATen/ATen.h ]; then missing+=(libtorch-dev); fi
# Debian's libtorch takes whichever libblas.so.3 is installed; on a fresh machine that can
# be the reference BLAS, about 35 times slower at matrix products (a DCGAN step 8 times
# slower). OpenBLAS takes precedence as soon as it is there.
if [ -z "${LIBTORCH:-}" ] && [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] && [ "$(uname -m)" = x86_64 ]; then missing+=(libopenblas0); fi
# The gloo headers that c10d's ProcessGroupGloo header includes (distributed training);
# Debian's libtorch-dev does not depend on them. An official archive brings its own.
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/gloo/config.h ]; then missing+=(libgloo-dev); fi
# oneDNN's headers, for the Winograd 3×3 convolutions (native/conv_winograd.cc) on the
# libdnnl that Debian's libtorch already runs on.
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ]; then missing+=(libdnnl-dev); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing ${missing[*]}: run as root, or install them (apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The test command only (`bootstrap.sh --tests`): the dashboard's and the ONNX playground's
# browser tests drive Debian's /usr/bin/chromium. Where it cannot be installed they are
# skipped, saying so.
if [ "${1:-}" = --tests ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium for the browser tests (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
      say "could not install chromium: the browser tests will be skipped"
  else
    say "no /usr/bin/chromium (installing it needs root and apt-get): the browser tests will be skipped"
  fi
fi

# node-gyp cannot download Node's headers on a closed network: use the system's.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies and building the native addon (npm ci)"
  # onnxruntime-node (tests only) bundles its CPU runtime; its postinstall would download
  # CUDA extras from the internet. .npmrc says skip too; the variable outlives npm's
  # support for unknown keys in .npmrc.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi

addon=build/Release/ganforge.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -print -quit)" ]; then
  say "building the native addon"
  node_modules/.bin/node-gyp rebuild --jobs=max --loglevel=error
fi

if [ ! -f dist/.stamp ] || [ -n "$(find src test bench tsconfig.json package.json -newer dist/.stamp -print -quit)" ]; then
  say "compiling TypeScript"
  node_modules/.bin/tsc -p .
  touch dist/.stamp
fi
