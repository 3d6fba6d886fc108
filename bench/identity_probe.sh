#!/usr/bin/env bash
# Runs bench/identity_probe on a loop-mounted ext4 (root only): scan cost of each identity
# discriminator over a 100k-file tree (warm, and cold after a remount) and how often each
# tells a reused inode number apart. Everything it mounts or creates is removed on any exit.
# Usage: bench/identity_probe.sh PROBE_BINARY [FILES]
set -euo pipefail
probe=${1:?usage: identity_probe.sh PROBE_BINARY [FILES]}
files=${2:-100000}
work=$(mktemp -d /tmp/lookout-idprobe-XXXXXX)
img=$work/ext4.img
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
truncate -s 1G "$img"
mkfs.ext4 -q -F -N 200000 "$img"
mount -o loop "$img" "$mnt"  # the loop device is freed at umount (autoclear)
mkdir "$mnt/tree" "$mnt/reuse"
"$probe" make "$mnt/tree" "$files"
for m in fstatat statx_btime getversion handle; do
  echo "warm: $("$probe" scan "$mnt/tree" $m 5)"
done
for m in fstatat statx_btime getversion handle; do
  umount "$mnt" && mount -o loop "$img" "$mnt"
  echo "cold: $("$probe" scan "$mnt/tree" $m 1)"
done
for m in statx_btime btime_unqueried getversion handle; do
  echo "reuse: $("$probe" reuse "$mnt/reuse" 200 $m)"
done
