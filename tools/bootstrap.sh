#!/bin/sh
# bootstrap.sh - install every Debian package stc needs (idempotent).
#
# Both README commands run this first, so a fresh Debian machine needs nothing
# else.  It runs `apt-get update` at most once per machine boot-state (only when
# a package is missing) and never downloads anything outside Debian's archive.
# SPDX-License-Identifier: MIT
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libzip-dev zlib1g-dev libcjson-dev libcunit1-dev libmsgpack-dev libzmq3-dev
libopenmpi-dev openmpi-bin iproute2 libmetis-dev libscotch-dev
graphviz gnuplot-nox python3-torch python3-numpy python3-zmq python3-msgpack dataset-fashion-mnist"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "bootstrap: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
