#!/usr/bin/env bash
# One GPU session (`c2f-sdf gpu-session`) on the project's device machine: resume from the
# carried checkpoint, train MINUTES (default 7), export every 2 minutes, score, return.
# docs/model.md, "GPU sessions".
#
# The call of the device tool (its whole command line is the first argument):
#
#   run(command="bash scripts/gpu_session.sh", carry=[".gpu"], timeout_s=540)
#
# Once, here: `echo /.gpu/ >> .git/info/exclude`. What travels is the working tree (about
# 41 MB, 33 MB of it the shipped weights) plus .gpu/, at most 64 MiB together, so .gpu/
# may hold about 25 MB (du -sb .gpu):
#   .gpu/train/       frames to train on, ~0.75 MB each, made here (open3d) by
#                     `c2f-sdf gpu-session pack data/train --out .gpu/train --frames N`
#   .gpu/val/         optional validation frames, packed the same way (default: train's)
#   .gpu/test/        optional test frames, packed the same way (scored by their loss)
#   .gpu/checkpoint/  optional: what the previous session returned (last.json and
#                     last-*-of-*.safetensors, ~16 MB in bfloat16 for the 8M 'cpu' size);
#                     without it the session starts from the shipped weights
# What comes back in $OUT (at most 8 files of 16 MiB): last-0000i-of-0000N.safetensors,
# last.json, session.json, log.jsonl and session.log (this script's output). To chain,
# replace .gpu/checkpoint/ by those last.* files and call again. Arguments given to this
# script go on to `c2f-sdf gpu-session` (e.g. --batch-size 64 --lr 2e-4).
set -euo pipefail
cd "$(dirname "$0")/.."
carry=${CARRY:-.gpu}
out=${OUT:?OUT must name the folder that comes back}
python=${PYTHON:-python3}
args=(--data "$carry/train" --out "$out" --minutes "${MINUTES:-7}"
      --checkpoint-minutes "${CHECKPOINT_MINUTES:-2}" --quiet)
if [ -d "$carry/val" ]; then args+=(--val "$carry/val"); fi
if [ -d "$carry/test" ]; then args+=(--test "$carry/test"); fi
if [ -f "$carry/checkpoint/last.json" ]; then args+=(--checkpoint-in "$carry/checkpoint"); fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    2>/dev/null || echo 'nvidia-smi: none'
  du -sh "$carry" || true
  "$python" -m c2f_sdf_ros.cli gpu-session "${args[@]}" "$@"
} 2>&1 | tee "$out/session.log"
