#!/usr/bin/env bash
# gpu-check.sh: everything a session with an NVIDIA GPU should run, in one
# go, sized to finish in about 8 minutes on an H200 (each step has its own
# time limit, so a slow step is cut short and reported, not left hanging):
#   1. build (nvcc found on PATH or in /usr/local/cuda) and make test, with
#      the cuda/cublas suites running for real instead of skipping;
#   2. lumi check configs/equivalence-gpu.yaml with require: true (a
#      missing device is a failure here, not a skip);
#   3. lumi bench on a synthesized Llama-2-7B-shape model (dim 4096, hidden
#      11008, 32 layers, 32 heads, vocab 32000), in bf16 when lumi synth has
#      --dtype, else f32 (27 GB): cuda (and cublas, f32 only) pp512 + tg128 against the
#      GPU's measured read bandwidth and FMA peak, and the cpu backend on a
#      shorter prompt for the prefill ratio.
# Usage: tools/gpu-check.sh [OUT_DIR]   (default results/gpu-check)
# The machine needs the build's packages (README set-up); if it has none
# and no network, build here and carry build/ and lumi along.
# Env: JOBS (make -j, default nproc), SYNTH_DIR (where the 27 GB model is
# written, default /dev/shm if it has room, else OUT_DIR), SKIP_7B=1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/gpu-check}
mkdir -p "$OUT"
LOG="$OUT/summary.txt"
JOBS=${JOBS:-$(nproc)}
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
step() { # step NAME LIMIT_S COMMAND...: runs it with a time limit, logs rc and seconds
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    say "$name: rc=$rc in $((SECONDS - t0)) s (log: $OUT/$name.log)"
    tail -n 25 "$OUT/$name.log" | sed 's/^/   /' | tee -a "$LOG" > /dev/null
    return $rc
}

say "$(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) on $(hostname)"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"

step build 240 make -j"$JOBS" all build/run_tests || { say "build failed: stop"; exit 2; }
./lumi paths | grep -E '^  (opencl|cuda|cublas) ' | tee -a "$LOG"
step test 120 make test

# equivalence with the device required
# (opencl is left out of the required run: the GPU machine may have no ICD)
sed -e 's/^require: false/require: true/' -e 's/backend: \[ref, opencl, cuda, cublas\]/backend: [ref, cuda, cublas]/' \
    -e 's/^name: equivalence-gpu/name: equivalence-gpu-required/' configs/equivalence-gpu.yaml > "$OUT/equivalence-gpu-required.yaml"
grep -q '^require: true' "$OUT/equivalence-gpu-required.yaml" || echo "require: true" >> "$OUT/equivalence-gpu-required.yaml"
step equivalence 150 ./lumi check "$OUT/equivalence-gpu-required.yaml"

if [ "${SKIP_7B:-0}" = 1 ]; then say "SKIP_7B=1: no 7B bench"; exit 0; fi
# 27 GB of f32 weights: /dev/shm when it has room (no disk write), else OUT.
if [ -z "${SYNTH_DIR:-}" ]; then
    SYNTH_DIR=$OUT
    free_shm=$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)
    [ "${free_shm:-0}" -gt $((30 * 1024 * 1024)) ] && SYNTH_DIR=/dev/shm
fi
# bf16 (13.5 GB, the issue's decode target) when lumi synth can write it
# (the weight-precision work adds --dtype), f32 (27 GB) otherwise.
if ./lumi synth --help 2>&1 | grep -q -- '--dtype'; then
    DT=bf16 M7="$SYNTH_DIR/lumi-llama2-7b-bf16.gguf" SYNTH_DT="--dtype bf16" GB_TOK=13.48
else
    DT=f32 M7="$SYNTH_DIR/lumi-llama2-7b-f32.bin" SYNTH_DT="" GB_TOK=26.95
fi
say "7B shape in $DT: $M7"
# shellcheck disable=SC2086
[ -s "$M7" ] || step synth-7b 150 ./lumi synth --dim 4096 --hidden 11008 --layers 32 --heads 32 --kv-heads 32 \
    --vocab 32000 --seq 1024 --seed 7 $SYNTH_DT -o "$M7" || { say "synth failed: stop"; exit 2; }
GPU_PATHS=(--path backend=cuda,cache=fixed,prefill=batched)
[ "$DT" = f32 ] && GPU_PATHS+=(--path backend=cublas,cache=fixed,prefill=batched)
step bench-7b-gpu 150 ./lumi bench -m "$M7" "${GPU_PATHS[@]}" -p 512 -n 128 -r 2 -o "$OUT/bench"
step bench-7b-cpu 120 ./lumi bench -m "$M7" --path backend=cpu,cache=fixed,prefill=batched -p 64 -n 8 -r 1 \
    -o "$OUT/bench"
say "bench-7b-gpu's 'of peak' is against the GPU's own read bandwidth and FMA peak (its 'device of' lines);"
say "$GB_TOK GB of $DT weights are read per decoded token; the H200's nominal HBM3e bandwidth is 4800 GB/s"
[ "$SYNTH_DIR" = /dev/shm ] && rm -f "$M7"
say "done in $SECONDS s"
