#!/bin/sh
# main_job.sh - the README's first command: the whole product on the bundled model.
#
# Today (the backend milestone) that is: bootstrap, build, compile the bundled
# Fashion-MNIST Spikformer for the loihi3 target with 8-bit weights, run the
# Fashion-MNIST test set through the bit-accurate chip simulator (accuracy
# beside PyTorch's, spike statistics, energy), and profile energy and latency
# by layer.  STC_LIMIT=N evaluates only the first N test images.
# SPDX-License-Identifier: MIT
set -eu
cd "$(dirname "$0")/.."
sh tools/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null
MODEL=models/fmnist_spikformer.pth
BUNDLE=build/fmnist_spikformer.stc
STC=build/coordinator/stc-coord
echo "== stc-coord compile $MODEL --target loihi3 -O3 --weight-bits 8 -o $BUNDLE"
$STC compile "$MODEL" --target loihi3 -O3 --weight-bits 8 -o "$BUNDLE"
echo
echo "== stc-coord run $BUNDLE --dataset fashion-mnist${STC_LIMIT:+ --limit $STC_LIMIT}"
$STC run "$BUNDLE" --dataset fashion-mnist --progress ${STC_LIMIT:+--limit "$STC_LIMIT"}
echo
echo "== stc-coord profile $BUNDLE --dataset fashion-mnist --limit 200"
$STC profile "$BUNDLE" --dataset fashion-mnist --limit 200 --no-progress
