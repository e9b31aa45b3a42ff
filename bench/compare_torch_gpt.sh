#!/usr/bin/env bash
# Times execfeed's GPT-2 train step (causal-LM CE + Adam, batch 32 x context 128) and its KV-cache
# sampler (64 prompts of 32 tokens, 64 new tokens) against PyTorch at the same shapes (vocab 512,
# 4 layers, 4 heads, width 128), on the same machine in the same run, and prints both ratios.
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install python3-torch libopenblas0-pthread).
# Usage: bench/compare_torch_gpt.sh [steps]   (default 10; torch runs twice, the better run counts)
# GOMLX_BACKEND and TORCH_DEVICE (cpu or cuda) select the backends; the GPU script sets both.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOEXPERIMENT=${GOEXPERIMENT:-simd}
steps=${1:-10}
torch_py=${TORCH_BENCH:-bench/torch_gpt_step.py}
python=${TORCH_PYTHON:-/usr/bin/python3}
device=${TORCH_DEVICE:-cpu}
test_bin=${GPT_TEST_BIN:-}
[ -f "$torch_py" ] || { echo "compare_torch_gpt: $torch_py not found (set TORCH_BENCH)" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null || { echo "compare_torch_gpt: $python has no torch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 1; }
if [ -z "$test_bin" ]; then
	test_bin=/tmp/execfeed-gpt.test
	go test -c -o "$test_bin" ./lib/gpt >/dev/null
fi
test_bin=$(realpath "$test_bin")

torch_run() { "$python" "$torch_py" --steps "$steps" --threads 1 --device "$device"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t1=$(torch_run)
ours=$(cd lib/gpt && "$test_bin" -test.run '^$' -test.bench 'BenchmarkTrainStep|BenchmarkSample' -test.benchtime "${steps}x" -test.count 3)
t2=$(torch_run)
train_torch=$(printf '%s\n%s\n' "$t1" "$t2" | awk '/train ms/ {print $4}' | sort -n | head -1)
sample_torch=$(printf '%s\n%s\n' "$t1" "$t2" | awk '/sample tokens/ {print $4}' | sort -n | tail -1)
train_ours=$(echo "$ours" | awk '/^BenchmarkTrainStep/ {print $3/1e6}' | median)
sample_ours=$(echo "$ours" | awk '/^BenchmarkSample/ {for (i=1;i<=NF;i++) if ($i=="tokens/s") print $(i-1)}' | median)
echo "cpu:          $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores)"
echo "backend:      ${GOMLX_BACKEND:-go} (execfeed), torch device $device (1 thread)"
echo "train step:   torch ${train_torch} ms, execfeed ${train_ours} ms (medians; torch best of two runs)"
echo "sampling:     torch ${sample_torch} tokens/s, execfeed ${sample_ours} tokens/s"
awk -v o="$train_ours" -v t="$train_torch" 'BEGIN {printf "train ratio:  %.2f (execfeed time / torch time; target <= 1.0)\n", o/t}'
awk -v o="$sample_ours" -v t="$sample_torch" 'BEGIN {printf "sample ratio: %.2f (execfeed tokens/s / torch tokens/s; target >= 1.0)\n", o/t}'
