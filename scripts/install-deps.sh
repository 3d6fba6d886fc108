#!/usr/bin/env bash
# Installs what lookout needs to build, test and benchmark on Debian 12. Idempotent: does
# nothing when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libfmt-dev libcli11-dev libgtest-dev libgmock-dev
      libbenchmark-dev libxxhash-dev libcpp-httplib-dev libsqlite3-dev sqlite3 inotify-tools rsync python3 lld)
# Peers for bench/ (rsyslog: imfile for bench/tail_compare.py), FUSE/loop fixtures for root tests.
extra=(fswatch watchman entr python3-pyinotify incron rsyslog lsyncd openssh-server openssh-client bindfs xfsprogs btrfs-progs e2fsprogs util-linux procps)
missing=()
for p in "${pkgs[@]}" "${extra[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The peers and fixtures are optional: tests and benchmarks that need one skip without it.
$SUDO apt-get install -y -qq "${pkgs[@]}"
$SUDO apt-get install -y -qq "${extra[@]}" || echo "install-deps: some optional packages failed: ${extra[*]}" >&2
