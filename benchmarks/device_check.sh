#!/usr/bin/env bash
# One call on a lent GPU machine: CUDA tests, throughput against xautodl, a full-size supernet
# on the CIFAR-10 npz files, predictor speed. Every phase is time-boxed and independent, so one
# failure does not cost the others; results go to $OUT (logs, evaluation CSVs).
#
#   prepared here:  .devdata/ = cifar10_train_part*.npz + nb201_cifar10_ground_truth.csv (copies of
#                   ../shared/data, git-ignored, never committed); .whl/ = the xautodl wheel
#   on the device:  bash benchmarks/device_check.sh [TRAIN_SECONDS]
#
# TRAIN_SECONDS (default 110) is the training wall budget per supernet: the epochs follow
# from the single-process training throughput measured in phase 2.
set -u
OUT=${OUT:-/tmp/device_out}
mkdir -p "$OUT"
BUDGET=${1:-110}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu SMOKE=1: a dry run of this script on a machine without a GPU
QUICK=${SMOKE:+--quick}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NASGCN_REFERENCE_DATA=$PWD/.devdata
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
t0=$SECONDS
phase() { echo; echo "=== $1 (t=$((SECONDS - t0)) s)"; }

phase "0. machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, torch_geometric as g; print('torch', torch.__version__, 'pyg', g.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
nproc

phase "1. CUDA tests"
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_gcn.py -x 2>&1 | tail -25 | tee "$OUT/pytest.txt"

phase "2. throughput vs xautodl (NB201 size, batch 256)"
timeout 90 python3 benchmarks/supernet_throughput.py --device "$DEVICE" --batch-size 256 --steps 20 --eval-archs 20 \
    --eval-images 1000 --rounds 3 2>&1 | tee "$OUT/throughput.txt"
RATE=$(awk '$1 == "train" {print $2}' "$OUT/throughput.txt")
# Three supernets share the GPU: assume half the single-process rate each.
EPOCHS=$(python3 -c "r = float('${RATE:-0}' or 0); print(max(5, min(100, int($BUDGET * r / 2 / 18000))) if r else 20)")

phase "3. full-size supernets (C=16 N=5 32 px, batch 256, lr 0.1, $EPOCHS epochs) on 18k CIFAR-10 images"
timeout $((BUDGET * 2 + 100)) python3 benchmarks/supernet_cifar_small.py --data .devdata --device "$DEVICE" \
    --channels 16 --cells 5 --input-size 32 --batch-size 256 --lr 0.1 --epochs "$EPOCHS" \
    --samplers balanced,uniform,fair --jobs 3 $QUICK --out /tmp/full 2>&1 | grep -v "^\s*$" | tail -20 | tee "$OUT/full.txt"
for f in /tmp/full/*/evals.csv; do
    [ -f "$f" ] && cp "$f" "$OUT/evals_$(basename "$(dirname "$f")").csv"
done
for f in /tmp/full/*/history.jsonl; do
    [ -f "$f" ] && tail -1 "$f" | cut -c1-300
done

phase "4. predictor speed on the GPU"
timeout 75 python3 benchmarks/predictor_nb201.py --data .devdata --sections speed --device "$DEVICE" --repeats 5 2>&1 \
    | tail -12 | tee "$OUT/predictor_speed.txt"
phase "done"
