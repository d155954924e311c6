#!/usr/bin/env bash
# The deploy test (test/e2e/deploy.test.ts) runs deploy/nginx and deploy/caddy through Debian's nginx
# and Caddy, with a certificate made by openssl. Install what is missing: as root directly, otherwise
# through sudo. The test runs its own nginx and Caddy, so the packages' system services are neither
# started nor left enabled (an nginx started on port 80 would also fail the install when 80 is taken).
# NEXUS_NGINX and NEXUS_CADDY name other binaries.
set -euo pipefail
nginx="${NEXUS_NGINX:-/usr/sbin/nginx}"
caddy="${NEXUS_CADDY:-/usr/bin/caddy}"
packages=()
for pair in "nginx:$nginx:NEXUS_NGINX" "caddy:$caddy:NEXUS_CADDY"; do
  IFS=: read -r package bin variable <<<"$pair"
  if [ -x "$bin" ]; then continue; fi
  if [ -n "${!variable:-}" ]; then
    echo "$variable=$bin is not an executable file" >&2
    exit 1
  fi
  packages+=("$package")
done
if ! command -v openssl >/dev/null; then packages+=(openssl); fi
if [ ${#packages[@]} -eq 0 ]; then exit 0; fi

echo "Installing Debian's ${packages[*]} (needed by the deploy test)..." >&2
as_root=()
if [ "$(id -u)" != "0" ]; then as_root=(sudo); fi
# policy-rc.d answering 101 tells the packages' scripts not to start their services; keep one that exists.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Under systemd the packages enable their services for the next boot; undo that for what we installed.
if [ -d /run/systemd/system ]; then
  for package in "${packages[@]}"; do
    if [ "$package" != openssl ]; then "${as_root[@]}" systemctl disable --quiet "$package" 2>/dev/null || true; fi
  done
fi
for bin in "$nginx" "$caddy"; do
  [ -x "$bin" ] || { echo "apt-get installed ${packages[*]} but $bin is still missing" >&2; exit 1; }
done
