#!/usr/bin/env bash
# The prepared GPU check, for the day a GPU is lent: at most 8 minutes on one H100/H200 (a hard timeout enforces it).
# Prints one table (CUDA vs CPU hidden states in fp32/bf16/fp16, extraction throughput vs a bare forward, ASR steps/s
# with the encoder in the loop, a 3-rate shared-forward sweep against one rate at a time, bench suite on Ray with one
# job per GPU, peak GPU memory) and exits non-zero when a check fails. `--dry` runs it on the CPU with tiny models
# (tests/benchmarks/test_gpu_check.py does, so it cannot rot).
#
#     bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root, after setup.sh
#     bash benchmarks/gpu_check.sh --dry      # anywhere
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
limit="${GPU_CHECK_TIMEOUT_S:-480}"
if [[ " $* " != *" --dry "* ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout --signal=TERM "$limit" "$python" benchmarks/gpu_check.py "$@"
