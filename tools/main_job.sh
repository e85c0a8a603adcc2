#!/bin/sh
# main_job.sh - the README's first command: the whole product on the bundled model.
#
# bootstrap, build; compile the bundled Fashion-MNIST Spikformer for loihi3 and
# place it on a torus of 2x2 chips (spread over all four); start the node job,
# `mpirun -np 4 stc-node`, one rank per chip; deploy the chip images to it over
# ZeroMQ; run the Fashion-MNIST test set on it (accuracy beside PyTorch's,
# energy per inference, latency, chip utilization); stop the job.  Everything
# runs on this machine over loopback.
#   STC_LIMIT=N   evaluate only the first N test images
#   STC_PORT=P    the coordinator's port (7700)
# SPDX-License-Identifier: MIT
set -eu
cd "$(dirname "$0")/.."
sh tools/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null
MODEL=models/fmnist_spikformer.pth
BUNDLE=build/fmnist_spikformer.stc
STC=build/coordinator/stc-coord
NODE=build/node/stc-node
PORT=${STC_PORT:-7700}
EP=tcp://127.0.0.1:$PORT
# mpirun as root needs these (a container or CI machine); --oversubscribe: 4 ranks on fewer cores
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "== stc-coord compile $MODEL --target loihi3 -O3 --weight-bits 8 --topology torus:2x2 --spread -o $BUNDLE"
$STC compile "$MODEL" --target loihi3 -O3 --weight-bits 8 --topology torus:2x2 --spread -o "$BUNDLE"
echo
echo "== mpirun -np 4 --oversubscribe $NODE --coord $EP &"
mpirun -np 4 --oversubscribe "$NODE" --coord "$EP" &
JOB=$!
trap 'kill $JOB 2>/dev/null || true' EXIT INT TERM
echo
echo "== stc-coord deploy $BUNDLE --endpoint $EP"
$STC deploy "$BUNDLE" --endpoint "$EP"
echo
echo "== stc-coord run $BUNDLE --endpoint $EP --dataset fashion-mnist${STC_LIMIT:+ --limit $STC_LIMIT} --stop-nodes"
$STC run "$BUNDLE" --endpoint "$EP" --dataset fashion-mnist --progress ${STC_LIMIT:+--limit "$STC_LIMIT"} --stop-nodes
wait $JOB
trap - EXIT INT TERM
