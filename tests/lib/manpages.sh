#!/bin/bash
# The man pages under man/: every public function (lib/libsimpler.map,
# global:) has a man3 page, a full page or a `.so` link; every `.so` link
# names a page that exists; every page renders without a warning under
# man --warnings at 80 columns; simpler(7), simpler(1) and simpler(4) exist.
# Needs man-db and groff, nothing built.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
man=$repo/man
. "$repo/tests/lib/tap.sh"

funcs=$(awk '/global:/ { g = 1; next } /local:/ { g = 0 } g { gsub(/[;[:space:]]/, ""); if ($0 != "") print }' \
	"$repo/lib/libsimpler.map")
pages=$(cd "$man" && ls man[0-9]/*.[0-9] 2>/dev/null)

echo "1..4"
echo "# $(echo "$funcs" | wc -l) public functions, $(echo "$pages" | grep -c .) pages"

missing=$(for f in $funcs; do [ -f "$man/man3/$f.3" ] || echo "$f"; done)
[ -n "$missing" ] && echo "$missing" | sed 's/^/#   no man3 page: /'
t "every public function of libsimpler.map has a man3 page" '[ -n "$funcs" ] && [ -z "$missing" ]'

# .so requests are resolved from man/, as man does from the top of a manual tree
dangling=$(cd "$man" && for p in $pages; do
	awk '/^\.so[ \t]/ { print $2 }' "$p" | while read -r so; do
		[ -f "$so" ] || echo "$p -> $so"
	done
done)
[ -n "$dangling" ] && echo "$dangling" | sed 's/^/#   .so to a missing page: /'
t "every .so link names an existing page" '[ -z "$dangling" ]'

# man writes warnings, and nothing else, on stderr
warned=$(cd "$man" && for p in $pages; do
	w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null)
	[ -n "$w" ] && { echo "$p:"; echo "$w"; }
done)
[ -n "$warned" ] && echo "$warned" | sed 's/^/#   /'
t "every page renders without a warning (man --warnings, 80 columns)" '[ -n "$pages" ] && [ -z "$warned" ]'

absent=$(for p in man7/simpler.7 man1/simpler.1 man4/simpler.4; do [ -f "$man/$p" ] || echo "$p"; done)
[ -n "$absent" ] && echo "$absent" | sed 's/^/#   missing: /'
t "simpler(7), simpler(1) and simpler(4) exist" '[ -z "$absent" ]'

tap_end
