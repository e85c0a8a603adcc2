#!/bin/sh
# test.sh - the whole test suite, as CI runs it: bootstrap, build, ctest; the same under
# AddressSanitizer + UndefinedBehaviorSanitizer; then every fuzz target briefly.
#
#   tools/test.sh                      everything
#   STC_FUZZ_SECONDS=600 tools/test.sh longer fuzzing (default 20 s per target)
#   STC_SKIP_ASAN=1 / STC_SKIP_FUZZ=1  skip a stage (for quick local runs)
# SPDX-License-Identifier: MIT
set -eu
cd "$(dirname "$0")/.."
sh tools/bootstrap.sh
JOBS=${JOBS:-2}
FUZZ_SECONDS=${STC_FUZZ_SECONDS:-20}

echo "== build (RelWithDebInfo) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure)

if [ -z "${STC_SKIP_ASAN:-}" ]; then
    echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTC_SANITIZE=ON >/dev/null
    cmake --build build-asan -j"$JOBS"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure)
fi

if [ -z "${STC_SKIP_FUZZ:-}" ]; then
    echo "== fuzz targets (libFuzzer, ${FUZZ_SECONDS} s each)"
    FUZZ_TARGETS="ckpt torchzip legacy safetensors inputs ir_text config target bundle topology proto state runckpt"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTC_FUZZ=ON >/dev/null
    for t in $FUZZ_TARGETS; do cmake --build build-fuzz -j"$JOBS" --target "fuzz_$t"; done
    fuzz_ok=0
    fuzz_bad=0
    for t in $FUZZ_TARGETS; do
        work="build-fuzz/corpus-$t"
        rm -rf "$work" && mkdir -p "$work"
        cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
        if "build-fuzz/tests/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 \
            -rss_limit_mb=2048 -artifact_prefix="build-fuzz/$t-" "$work" >"build-fuzz/fuzz_$t.log" 2>&1; then
            echo "fuzz_$t: $(grep -o 'Done [0-9]* runs' "build-fuzz/fuzz_$t.log" | tail -1), no crash"
            fuzz_ok=$((fuzz_ok + 1))
        else
            echo "fuzz_$t: FAILED (see build-fuzz/fuzz_$t.log)"
            tail -30 "build-fuzz/fuzz_$t.log"
            fuzz_bad=$((fuzz_bad + 1))
        fi
    done
    echo "fuzz: $fuzz_ok passed, $fuzz_bad failed"
    [ "$fuzz_bad" -eq 0 ]
fi
