#!/usr/bin/env bash
# tests/slurm/run.sh: lumi on a real, one-node Slurm cluster (CI, as root).
# Starts munged, slurmctld and slurmd from tests/slurm/slurm.conf.in with
# every state file in a temp folder, submits an equivalence config and a
# sampler study on the shipped model as 4-shard job arrays with
# `lumi slurm --submit`, waits (at most LUMI_SLURM_WAIT seconds, default
# 300) for both merge jobs, and compares the merged tables with unsharded
# runs byte for byte. The daemons are stopped on every exit (trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/slurm
wait_s=${LUMI_SLURM_WAIT:-300}
t0=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "tests/slurm/run.sh: needs root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
for b in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
    command -v "$b" >/dev/null || { echo "tests/slurm/run.sh: $b not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
[ -x ./lumi ] || make -j2 all

D=$(mktemp -d /tmp/lumi-slurm-XXXXXX)
chmod 755 "$D" # munged wants every folder above its socket searchable
mkdir -p "$D/munge" "$D/ctld" "$D/slurmd" "$D/cfg"
chmod 755 "$D/munge"
touch "$D/plugstack.conf"

stop() {
    local rc=$?
    for p in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munge/munged.pid"; do
        [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    sleep 1
    if [ "$rc" != 0 ]; then
        echo "--- slurm test failed; logs from $D:" >&2
        tail -n 20 "$D"/slurmctld.log "$D"/slurmd.log "$D"/*/logs/*.out 2>/dev/null >&2 || true
    fi
    rm -rf "$D"
    exit "$rc"
}
trap stop EXIT INT TERM

host=$(hostname -s)
sed -e "s|@DIR@|$D|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$(nproc)|g" \
    -e "s|@CTLD_PORT@|${LUMI_SLURMCTLD_PORT:-26817}|g" -e "s|@SLURMD_PORT@|${LUMI_SLURMD_PORT:-26818}|g" \
    "$here/slurm.conf.in" >"$D/slurm.conf"
export SLURM_CONF="$D/slurm.conf"
mungekey -c -k "$D/munge/munge.key"
munged --socket="$D/munge/munge.socket.2" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
    --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed"
slurmctld -f "$D/slurm.conf"
slurmd -f "$D/slurm.conf" -N "$host"
for i in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && break
    [ "$i" = 60 ] && { echo "slurm: the node never became idle" >&2; exit 1; }
    sleep 1
done
echo "slurm: one node ($host, $(nproc) CPUs) up after $(( $(date +%s) - t0 )) s"

# small configs on the shipped model, results in the temp folder
sed -e "s|@OUT@|$D/results|" "$here/equivalence.yaml" >"$D/cfg/equivalence.yaml"
sed -e "s|@OUT@|$D/results|" "$here/study.yaml" >"$D/cfg/study.yaml"

jobs=()
for kind in equivalence study; do
    ./lumi run "$D/cfg/$kind.yaml" --dir "$D/full-$kind" >/dev/null 2>&1
    out=$(./lumi slurm "$D/cfg/$kind.yaml" --shards 4 --cpus 1 --mem 100M --time 00:05:00 --output "$D/$kind" --submit)
    echo "slurm: $kind: $out"
    jobs+=("$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' <<<"$out")")
done

# the merge jobs leave the queue when they end (or can never run: a shard failed)
for i in $(seq "$wait_s"); do
    left=$(squeue -h -o %i 2>/dev/null | wc -l)
    [ "$left" = 0 ] && break
    [ "$i" = "$wait_s" ] && { echo "slurm: jobs still queued after ${wait_s} s:" >&2; squeue >&2; exit 1; }
    sleep 1
done

status=0
for f in equivalence/equivalence.csv equivalence/equivalence.txt study/summary.csv study/entropy_per_step.csv; do
    kind=${f%%/*} name=${f#*/}
    if cmp "$D/full-$kind/$name" "$D/$kind/merged/$name"; then
        echo "slurm: $kind $name: merged from 4 Slurm shards = unsharded, byte for byte"
    else
        status=1
    fi
done
grep -q '"merged_from"' "$D/equivalence/merged/run.json" || { echo "slurm: merged run.json has no merged_from" >&2; status=1; }
echo "slurm: merge jobs ${jobs[*]}; $( [ $status = 0 ] && echo passed || echo FAILED ) in $(( $(date +%s) - t0 )) s"
exit $status
