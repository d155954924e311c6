#!/usr/bin/env bash
# The Python SDK's test (test/e2e/python-sdk.test.ts) needs Python 3.10 or newer that can make a virtual
# environment (venv with ensurepip). Install Debian's python3 and python3-venv when they are missing: as root
# directly, otherwise through sudo. NEXUS_PYTHON names another interpreter.
set -euo pipefail
bin="${NEXUS_PYTHON:-python3}"
# Debian ships ensurepip in python3-venv: without it, `python3 -m venv` cannot put pip in the environment.
usable() { "$bin" -c 'import sys, ensurepip, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1; }
if usable; then exit 0; fi
if [ -n "${NEXUS_PYTHON:-}" ]; then
  echo "NEXUS_PYTHON=$bin is not Python 3.10 or newer with venv" >&2
  exit 1
fi
echo "Python 3.10+ with venv is missing: installing Debian's python3 and python3-venv (needed by the Python SDK test)..." >&2
as_root=()
if [ "$(id -u)" != "0" ]; then as_root=(sudo); fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
usable || { echo "apt-get installed python3 and python3-venv, but $bin is not Python 3.10 or newer with venv: $("$bin" --version 2>&1 || true)" >&2; exit 1; }
