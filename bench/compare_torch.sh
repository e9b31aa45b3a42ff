#!/usr/bin/env bash
# Times one generator train step (GRU encoder-decoder, teacher forcing, CE, Adam) in execfeed and
# in PyTorch at the same shapes on the same machine, in the same run, and prints ours/torch.
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install python3-torch libopenblas0-pthread).
# Usage: bench/compare_torch.sh [steps]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=auto GOEXPERIMENT=simd
steps=${1:-60}
torch_py=${TORCH_BENCH:-bench/torch_gru_step.py}
[ -f "$torch_py" ] || { echo "compare_torch: $torch_py not found (set TORCH_BENCH)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "compare_torch: /usr/bin/python3 has no torch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 1; }

go test -c -o /tmp/execfeed-seq2seq.test ./lib/seq2seq >/dev/null
torch1=$(/usr/bin/python3 "$torch_py" --steps "$steps" --threads 1 | awk '{print $3}')
ours=$(/tmp/execfeed-seq2seq.test -test.run '^$' -test.bench BenchmarkTrainStep -test.benchtime "${steps}x" -test.count 3 |
	awk '/^BenchmarkTrainStep/ {print $3/1e6}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
torch2=$(/usr/bin/python3 "$torch_py" --steps "$steps" --threads 1 | awk '{print $3}')
torch=$(awk -v a="$torch1" -v b="$torch2" 'BEGIN {print (a<b)?a:b}')
echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores)"
echo "torch:      ${torch} ms/step (best of two runs, 1 thread, median of ${steps} steps each)"
echo "execfeed:   ${ours} ms/step (Go backend, GOEXPERIMENT=simd, median of 3 runs of ${steps} steps)"
awk -v o="$ours" -v t="$torch" 'BEGIN {printf "ratio:      %.2f (execfeed / torch; target <= 1.0)\n", o/t}'
