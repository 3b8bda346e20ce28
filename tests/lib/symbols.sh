#!/bin/bash
# The shared library exports exactly the public API: every global of
# libsimpler.map, nothing else, all under the LIBSIMPLER_0.1 version; the
# header declares each of them; simpler.pc points at the right names.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
so=${1:-$repo/build/libsimpler.so}
. "$repo/tests/lib/tap.sh"
echo "1..4"
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
mapped=$(sed -n '/global:/,/local:/p' "$repo/lib/libsimpler.map" | grep -E '^\s+simpler_' | tr -d ' \t;' | sort)
t "exports equal the version script" '[ "$exported" = "$mapped" ]'
t "every export is versioned LIBSIMPLER_0.1" '! nm -D --defined-only "$so" | awk "\$2 == \"T\"" | grep -v "@@LIBSIMPLER_0.1" | grep -q .'
t "the header declares every export" 'for f in $mapped; do grep -q "$f(" "$repo/lib/include/simpler.h" || { echo "# missing: $f"; exit 1; }; done'
t "soname is libsimpler.so.0" 'readelf -d "$so" | grep -q "SONAME.*libsimpler.so.0"'
tap_end
