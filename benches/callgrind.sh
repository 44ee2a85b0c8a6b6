#!/bin/bash
# Instructions per operation, by callgrind: the difference of runs of 2N and N operations
# divided by N (start-up and warm-up cancel out). Stable where timings are not; the kernel's
# time in syscalls is not counted, so give strace -c's syscall counts with it.
#
#   benches/callgrind.sh PYTHON OP [N]             # ferrotemp
#   MOD=tempfile benches/callgrind.sh PYTHON OP    # the standard module
# OP: see benches/callgrind_ops.py. N defaults to 1000 (use less for roll and tree1k).
set -euo pipefail
py=$1; op=$2; n=${3:-1000}
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"  # the same dict layouts in both runs
ops="$(dirname "$0")/callgrind_ops.py"
run() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" "$ops" "$op" "$1" 2>&1 |
        awk '/Collected/ {print $4}'
}
a=$(run "$n"); b=$(run $((2 * n)))
echo "$op ${MOD:-ferrotemp} $(((b - a) / n))"
