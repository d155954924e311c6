#!/usr/bin/env bash
# The browser test drives Debian's Chromium. Install it when it is missing:
# as root directly, otherwise through sudo. NEXUS_CHROMIUM names another binary.
set -euo pipefail
bin="${NEXUS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then exit 0; fi
if [ -n "${NEXUS_CHROMIUM:-}" ]; then
  echo "NEXUS_CHROMIUM=$bin is not an executable file" >&2
  exit 1
fi
echo "Chromium is missing: installing Debian's chromium package (needed by the browser test)..." >&2
as_root=()
if [ "$(id -u)" != "0" ]; then as_root=(sudo); fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$bin" ] || { echo "apt-get installed chromium but $bin is still missing" >&2; exit 1; }
