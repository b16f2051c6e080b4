#!/usr/bin/env bash
# affectlens's own expression model, the whole GPU recipe in one command sized for a 10-minute
# slot on one H100/H200: three ResNet-18-sized teachers trained side by side (different seeds),
# then the shipped 2.8 M-parameter network distilled from their averaged outputs.
#
#   bash training/gpu_expression.sh DATA RUN [TEACHER_SECONDS] [STUDENT_SECONDS]
#
# DATA is the FER2013 train/ folder or the .npz that `train_expression.py --save-data` writes
# (it needs no affectlens install on the GPU machine). Each stage fits its epochs into its
# seconds (measured on its second epoch). The student ends in RUN/student/ (ONNX, best.pt,
# training.json); every stage's log is appended to RUN/gpu.log. Extra arguments for every
# stage (for a smoke test: "--limit 256 --epochs 2") go in $STAGE_ARGS.
#
# The stages can also run in two calls, for teachers trained longer than one 10-minute call
# allows: TEACHER_SECONDS 0 keeps the teachers already in RUN (from an earlier call on the
# same machine), STUDENT_SECONDS 0 stops after the teachers.
set -euo pipefail
data=$1 run=$2 teach=${3:-200} learn=${4:-240}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$run"
log="$run/gpu.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >>"$log" 2>&1 || true
if [ "$teach" = 0 ]; then
  for seed in 1 2 3; do
    [ -f "$run/teacher$seed/best.pt" ] || { echo "no teacher in $run/teacher$seed" >&2; exit 2; }
  done
  echo "teachers kept from an earlier call" >>"$log"
else
  pids=()
  for seed in 1 2 3; do
    # shellcheck disable=SC2086 # STAGE_ARGS is a list of arguments
    python3 "$here/train_expression.py" --data "$data" --out "$run/teacher$seed" --preset teacher \
      --seed "$seed" --time-budget "$teach" ${STAGE_ARGS:-} >"$run/teacher$seed.out" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  for seed in 1 2 3; do sed "s/^/teacher$seed: /" "$run/teacher$seed.out" >>"$log"; done
  [ "$status" = 0 ] || { echo "a teacher failed (exit $status); see $log" >&2; exit "$status"; }
fi
[ "$learn" = 0 ] && exit 0
# shellcheck disable=SC2086
python3 "$here/train_expression.py" --data "$data" --out "$run/student" --preset gpu \
  --teachers "$run/teacher1" "$run/teacher2" "$run/teacher3" --time-budget "$learn" \
  ${STAGE_ARGS:-} 2>&1 | sed -u "s/^/student: /" | tee -a "$log"
