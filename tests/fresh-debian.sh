#!/bin/sh
# fresh-debian.sh: first contact on a fresh Debian 12, as README promises.
# Bootstraps a minimal Debian root (debootstrap --variant=minbase, plus
# build-essential), copies this working tree in, and there runs:
#   1. `make test` as an unprivileged user: must stop, naming the exact
#      `sudo apt-get install ...` line, before building anything;
#   2. README's two commands, `make run` then `make test`, as root: they must
#      install what is missing and pass.
# Needs root, debootstrap and a reachable Debian mirror; takes minutes (not
# run by CI). Usage: sudo tests/fresh-debian.sh [ROOT_DIR] (default: a
# temporary folder, removed afterwards; a given ROOT_DIR is kept).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "fresh-debian: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "fresh-debian: apt-get install debootstrap" >&2; exit 2; }

MIRROR=${MIRROR:-http://deb.debian.org/debian}
keep=1
ROOT=${1:-}
if [ -z "$ROOT" ]; then ROOT=$(mktemp -d /var/tmp/lumi-fresh-debian.XXXXXX); keep=0; chmod 755 "$ROOT"; fi
# the tree as it is now (tracked and untracked, not ignored), before minutes of bootstrap
snap=$(mktemp /tmp/lumi-tree.XXXXXX.tar)
git ls-files -co --exclude-standard -z | tar --null -T - -cf "$snap"

cleanup() {
    for m in dev/pts dev sys proc; do umount "$ROOT/$m" 2>/dev/null || true; done
    rm -f "$snap"
    [ $keep = 1 ] || rm -rf "$ROOT"
}
trap cleanup EXIT INT TERM

t0=$(date +%s)
step() { echo "== [$(($(date +%s) - t0)) s] $*"; }

step "debootstrap bookworm (minbase + build-essential) into $ROOT"
debootstrap --variant=minbase --include=build-essential bookworm "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -20 "$ROOT.debootstrap.log" >&2; exit 1; }
rm -f "$ROOT.debootstrap.log"
mount -t proc proc "$ROOT/proc"
# as on a real machine: PoCL's hwloc aborts without /sys (the OpenCL tests)
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/opt/lumi"
tar -xf "$snap" -C "$ROOT/opt/lumi"
chown -R 65534:65534 "$ROOT/opt/lumi"

step "make test as a user (not root): must stop with the apt-get line"
if chroot --userspec=65534:65534 "$ROOT" /bin/sh -c 'cd /opt/lumi && HOME=/tmp make test' >"$snap.user" 2>&1; then
    cat "$snap.user"; echo "fresh-debian: FAIL: make test passed without the packages" >&2; exit 1
fi
cat "$snap.user"
grep -q "sudo apt-get install --no-install-recommends .*libyaml-dev" "$snap.user" ||
    { echo "fresh-debian: FAIL: no sudo apt-get install line" >&2; exit 1; }
[ ! -e "$ROOT/opt/lumi/lumi" ] || { echo "fresh-debian: FAIL: built before checking packages" >&2; exit 1; }
rm -f "$snap.user"

step "make run (root)"
chroot "$ROOT" /bin/sh -c 'cd /opt/lumi && make run'
step "make test (root)"
chroot "$ROOT" /bin/sh -c 'cd /opt/lumi && make test'
step "fresh-debian: OK"
