#!/bin/sh
# main_job.sh - the README's first command: the whole product on the bundled model.
#
# Today (the frontend milestone) that is: bootstrap, build, inspect the bundled
# Fashion-MNIST Spikformer, and evaluate it on the Fashion-MNIST test set with
# the float IR interpreter, printing its accuracy beside the one PyTorch
# measured.  STC_LIMIT=N evaluates only the first N test images.
# SPDX-License-Identifier: MIT
set -eu
cd "$(dirname "$0")/.."
sh tools/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null
MODEL=models/fmnist_spikformer.pth
echo "== stc-coord inspect $MODEL"
build/coordinator/stc-coord inspect "$MODEL" | head -20
echo "   ..."
echo
echo "== stc-coord run $MODEL --float --dataset fashion-mnist${STC_LIMIT:+ --limit $STC_LIMIT}"
build/coordinator/stc-coord run "$MODEL" --float --dataset fashion-mnist --progress ${STC_LIMIT:+--limit "$STC_LIMIT"}
