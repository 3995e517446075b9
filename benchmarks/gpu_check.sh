#!/usr/bin/env bash
# The CUDA checks of issue 24 in one run, from the repository root, on a machine with a GPU and no network:
#
#   PY=python OUT=/some/folder bash benchmarks/gpu_check.sh
#
# PY: a Python with torch (CUDA), torchaudio, numpy, h5py, pandas, scipy, pyyaml, onnxruntime, pytest,
# soundfile, dvclive (and what else the tests import) on its path; this tree is put first on PYTHONPATH.
# Writes every log to $OUT (default ./gpu-check): pytest-gpu.log, generate-b1.log, generate-b64.log,
# train-step.log, and summary.txt with each step's exit status and seconds. Each step has its own timeout;
# the whole stays under 6 minutes (at most 150 + 50 + 70 + 60 s). No step stops the others.
set -u
PY=${PY:-python}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

step() {  # step NAME SECONDS COMMAND...: run with a timeout, log to $OUT/NAME.log, note status and time
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout --kill-after 10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc after $((SECONDS - start)) s (limit $limit s)" | tee -a "$SUMMARY"
}

{
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), "GPUs", torch.cuda.device_count())'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
} | tee -a "$SUMMARY"

# 1. the gpu tests (and the SIGKILL resume test, which must not assume a slow machine)
step pytest-gpu 150 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py \
  "tests/test_train_gan.py::test_resume_after_sigkill"

# 2. generation at the Deep level, paper sizes (jukebox-5b VQ-VAE preset via params), random weights
PARAMS="$OUT/params-paper.yaml"
"$PY" - "$PARAMS" <<'EOF'
import sys, yaml
params = yaml.safe_load(open("params.yaml"))
params["gan"]["size"] = "paper"
params["vqvae"]["preset"] = "jukebox-5b"
yaml.safe_dump(params, open(sys.argv[1], "w"))
EOF
step generate-b1 50 "$PY" benchmarks/generate.py --device cuda --levels deep --size paper --params "$PARAMS" \
  --backend eager --random --batch 1 --repeats 10 --precision tf32 --cudnn-benchmark
step generate-b64 70 "$PY" benchmarks/generate.py --device cuda --levels deep --size paper --params "$PARAMS" \
  --backend eager --random --batch 64 --repeats 3 --precision bf16 --cudnn-benchmark

# 3. a training step on CUDA, paper sizes
step train-step 60 "$PY" benchmarks/train_step.py --device cuda --size paper --levels high deep --steps 2 --no-uncached

grep -h "real time\|vs fp32\|passed\|failed\|skipped\|s/step" "$OUT"/*.log | tee -a "$SUMMARY"
