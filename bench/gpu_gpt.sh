#!/usr/bin/env bash
# The GPT-2 benchmarks on a GPU through XLA, in two halves:
#
#   bench/gpu_gpt.sh build   on this (CPU) machine: builds the benchmark binary with the XLA
#                            backend (cgo; go-xla dlopens the PJRT plugin) into .gpu/, beside a
#                            copy of the PyTorch reference;
#   bench/gpu_gpt.sh run     on a GPU machine (no Go, no network; jax's CUDA PJRT plugin and
#                            PyTorch installed, see ../shared/NOTES.md): runs the train-step and
#                            sampling benchmarks on the GPU, the PyTorch reference with
#                            --device cuda at the same shapes in the same run (bench/compare_torch_gpt.sh
#                            prints both ratios), and a short training run on the GPU.
#
# With the device tool: build here, then run with carry [".gpu"]:  bash bench/gpu_gpt.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
build)
	export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOEXPERIMENT=${GOEXPERIMENT:-simd}
	mkdir -p .gpu
	CGO_ENABLED=1 go test -c -tags xla -ldflags='-s -w' -o .gpu/gpt.test ./lib/gpt
	cp "${TORCH_BENCH:-bench/torch_gpt_step.py}" .gpu/torch_gpt_step.py
	ls -l .gpu
	;;
run)
	[ -x .gpu/gpt.test ] || { echo "gpu_gpt: .gpu/gpt.test missing: run 'bench/gpu_gpt.sh build' on the CPU machine and carry .gpu" >&2; exit 1; }
	py=python3
	[ -x /opt/torch/.venv/bin/python3 ] && py=/opt/torch/.venv/bin/python3
	plugin_dir=$("$py" -c 'import jax_plugins.xla_cuda13 as m, os; print(os.path.dirname(m.__file__))')
	site=$("$py" -c 'import site; print(site.getsitepackages()[0])')
	libs=$(ls -d "$site"/nvidia/*/lib 2>/dev/null | paste -sd: -)
	export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	[ -d "$site/nvidia/cu13" ] && export XLA_FLAGS="--xla_gpu_cuda_data_dir=$site/nvidia/cu13"
	export GOMLX_BACKEND="xla:$plugin_dir/xla_cuda_plugin.so" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
	nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
	echo "== benchmarks: execfeed on $GOMLX_BACKEND, PyTorch on cuda"
	GPT_TEST_BIN=.gpu/gpt.test TORCH_BENCH=.gpu/torch_gpt_step.py TORCH_PYTHON="$py" TORCH_DEVICE=cuda \
		bench/compare_torch_gpt.sh "${STEPS:-20}"
	echo "== short training run on the GPU"
	(cd lib/gpt && GPT_TRAIN_RUN=1 ../../.gpu/gpt.test -test.run '^TestTrainRun$' -test.v)
	;;
*)
	echo "usage: bench/gpu_gpt.sh build|run" >&2
	exit 2
	;;
esac
