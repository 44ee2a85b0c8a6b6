#!/bin/bash
# Instructions per operation: benches/callgrind.sh PYTHON OP (see benches/callgrind_ops.py).
set -euo pipefail
PY=$1
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"  # the same dict layouts in both runs
op=$2
ops="$(dirname "$0")/callgrind_ops.py"
run() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PY" "$ops" "$op" "$1" 2>&1 |
        awk '/Collected/ {print $4}'
}
a=$(run 1000)
b=$(run 2000)
echo "$op $(((b - a) / 1000))"
