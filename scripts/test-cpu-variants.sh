#!/usr/bin/env bash
# Runs the test suite once per CPU kernel variant, as another CPU would run it: ATen,
# oneDNN and BLAS pick their kernels by CPU and each rounds differently, so a comparison
# with a reference that only holds on the CPU that made the fixture fails here too.
#
#   bash scripts/test-cpu-variants.sh                         # the whole suite, per variant
#   bash scripts/test-cpu-variants.sh test/nn.test.ts ...     # only these files (test/*.ts or dist/test/*.js)
#   CPU_VARIANTS="ATEN_CPU_CAPABILITY=default" bash scripts/test-cpu-variants.sh   # other variants
#
# Prints one summary line per variant (and the tests that failed under it); exits 1 if
# any variant failed. A variant a CPU cannot run falls back to what it can (a capability
# above the CPU's is ignored; OPENBLAS_CORETYPE matters only where libblas is OpenBLAS).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1

read -r -a variants <<< "${CPU_VARIANTS:-ATEN_CPU_CAPABILITY=default ATEN_CPU_CAPABILITY=avx2 ATEN_CPU_CAPABILITY=avx512 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell}"

files=()
for f in "$@"; do
  case "$f" in
    test/*.ts) f="dist/${f%.ts}.js" ;;
  esac
  [ -e "$f" ] || { echo "test-cpu-variants: no such test file: $f" >&2; exit 2; }
  files+=("$f")
done
[ ${#files[@]} -gt 0 ] || files=(dist/test/)

logs=$(mktemp -d "${TMPDIR:-/tmp}/ganforge-cpu-variants.XXXXXX")
failed=0
summary=()
for v in "${variants[@]}"; do
  log="$logs/${v//[^A-Za-z0-9_.-]/_}.tap"
  start=$(date +%s)
  env "$v" node --test --test-concurrency=1 --test-reporter=tap "${files[@]}" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  pass=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')
  fail=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
  if [ "$rc" -ne 0 ] || [ "${fail:-1}" != 0 ]; then
    failed=1
    line="FAIL  $v: pass ${pass:-?}, fail ${fail:-?} (exit $rc, ${secs} s)"
  else
    line="ok    $v: pass ${pass:-?}, fail 0 (${secs} s)"
  fi
  summary+=("$line")
  echo "$line"
  # The failed tests, innermost last (a suite fails with its subtests).
  grep -E '^ *not ok ' "$log" | sed -E 's/^ *not ok [0-9]+ - /        not ok: /' | head -20
done

echo
echo "CPU kernel variants (logs in $logs):"
printf '  %s\n' "${summary[@]}"
exit $failed
