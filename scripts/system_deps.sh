#!/usr/bin/env bash
# Debian packages the test suite uses: chromium (browser tests), tcpdump (kernel BPF filters of
# the live sensor), iproute2 (network namespaces of the live-capture test), nats-server and
# postgresql (the bus and the center's database in tests/center, started on 127.0.0.1 by the
# tests themselves; the package's own cluster service is not needed). Installs what is
# missing when run as root on Debian; otherwise says what is missing (those tests then skip).
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
{ command -v nats-server || [ -x /usr/sbin/nats-server ]; } >/dev/null 2>&1 || need+=(nats-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || echo "warning: could not install ${need[*]}; the tests that need them will skip"
else
  echo "note: missing ${need[*]} (not root or no apt-get); the tests that need them will skip"
fi
exit 0
