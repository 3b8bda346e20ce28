#!/bin/bash
# libsimpler's link graph follows its declared layers (README, "Code map").
# Reads the objects of libsimpler.a with nm: every object belongs to a layer;
# an object calls only into its own layer or the layers below; the graph has
# no cycle; every global symbol is public API (libsimpler.map) or carries
# the internal prefix sx_; and the sources declare every global they define
# (-Wmissing-prototypes).  And by include: the chip side, the platform and
# the base layer see nothing of the worker's internals.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
lib=${1:-$repo/build/libsimpler.a}
. "$repo/tests/lib/tap.sh"

# top to bottom: data flows down; completions come back up by posting, never by a call
layers='
l4        l4 remote noderank mpilink
api       worker boot args
orch      orch
tensormap tensormap
sched     sched
proc      proc
hostmem   hostmem hm_kmod hm_shm
lanes     lanes
chip      child launch bootstrap hostmap
platform  sim
base      arena errors extalloc itree kmod mapsnap opts rangeset sync tensor wire
'
rank=$(echo "$layers" | awk 'NF { r++; for (i = 2; i <= NF; i++) print $i, r, $1 }')
syms=$(nm -A "$lib" | sed -E 's/^[^:]*:([^:]*)\.o:/\1 /')
# object -> object edges, with the symbols that make them
defs=$(echo "$syms" | awk 'NF == 4 && $3 ~ /^[TDBRCGSVW]$/ { print $4, $1 }' | sort -u)
uses=$(echo "$syms" | awk 'NF == 3 && $2 == "U" { print $3, $1 }' | sort -u)
edges=$(join <(echo "$defs") <(echo "$uses") | awk '$2 != $3 { print $3, $2, $1 }' | sort)
objs=$(echo "$syms" | awk '{ print $1 }' | sort -u)

echo "1..7"
echo "# layers, top to bottom:"
echo "$layers" | awk 'NF { print "#   " $0 }'
unknown=$(for o in $objs; do echo "$rank" | awk -v o="$o" '$1 == o { f = 1 } END { exit !f }' ||
	echo "$o"; done)
[ -n "$unknown" ] && echo "# objects in no layer (declare them in tests/lib/layers.sh): $unknown"
t "every object of libsimpler.a is in a layer" '[ -z "$unknown" ]'

up=$(echo "$edges" | awk -v rank="$rank" 'BEGIN { n = split(rank, l, "\n")
	for (i = 1; i <= n; i++) { split(l[i], f, " "); r[f[1]] = f[2]; name[f[1]] = f[3] } }
	NF == 3 && r[$2] < r[$1] { print "#   " $1 " (" name[$1] ") -> " $2 " (" name[$2] "): " $3 }')
[ -n "$up" ] && { echo "# calls up the layers:"; echo "$up"; }
t "no object calls into a layer above its own" '[ -z "$up" ]'

# peel objects that nothing left calls, or that call nothing left: what remains is on a cycle
cyc=$(echo "$edges" | awk '{ e[$1 " " $2] = 1; o[$1]; o[$2] }
	END { do { gone = 0
		for (x in o) { in_ = out = 0
			for (k in e) { split(k, p, " ")
				if (p[2] == x && (p[1] in o)) in_ = 1
				if (p[1] == x && (p[2] in o)) out = 1 }
			if (!in_ || !out) { delete o[x]; gone = 1 } }
	} while (gone)
	for (x in o) printf "%s ", x }')
[ -n "$cyc" ] && echo "# on a cycle: $cyc"
t "the link graph has no cycle" '[ -z "$cyc" ]'

public=$(sed -n '/global:/,/local:/p' "$repo/lib/libsimpler.map" | grep -E '^\s+simpler_' |
	tr -d ' \t;' | sort)
stray=$(echo "$defs" | awk '{ print $1 }' | grep -v '^sx_' | sort -u | comm -23 - <(echo "$public"))
[ -n "$stray" ] && echo "# globals neither public nor sx_: $(echo $stray)"
t "every global is public API or sx_" '[ -z "$stray" ]'

proto=$(cd "$repo" && for f in lib/*.c lib/*/*.c platform/*/*.c; do
	${CC:-cc} -std=gnu11 -D_GNU_SOURCE -fsyntax-only -Wmissing-prototypes -Ilib/include -Ilib \
		-Iplatform -Iuapi "$f" 2>&1 | grep 'missing-prototypes'; done)
[ -n "$proto" ] && echo "$proto" | sed 's/^/# /'
t "-Wmissing-prototypes is clean" '[ -z "$proto" ]'

# what a folder may include: its own files and the folders below it
allowed() {	# allowed FOLDER RESOLVED-PATH
	case "$1:$2" in
	*:lib/include/simpler.h | *:uapi/linux/simpler.h | *:lib/base/*) return 0 ;;
	lib/chip:lib/chip/* | lib/chip:lib/mailbox.h | lib/chip:platform/platform.h) return 0 ;;
	platform/*:platform/platform.h) return 0 ;;
	esac
	return 1
}
leaks=$(cd "$repo" && for f in lib/base/*.[ch] lib/chip/*.[ch] platform/*/*.c platform/*.h; do
	d=$(dirname "$f")
	grep -oE '^#include "[^"]+"' "$f" | sed -E 's/^#include "(.*)"/\1/' | while read -r inc; do
		for base in "$d" lib platform lib/include uapi; do
			[ -e "$base/$inc" ] && { r=$(realpath --relative-to=. "$base/$inc"); break; }
		done
		allowed "$d" "${r:-?}" || echo "$f includes $inc"
		r=
	done
done)
[ -n "$leaks" ] && echo "$leaks" | sed 's/^/# /'
t "the chip side, the platform and base include nothing of the worker's" '[ -z "$leaks" ]'

# an application may use any name that is not simpler_ or sx_: these were ours once
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/app.c" <<'APP'
#include <simpler.h>
int werr(void) { return 1; }
int task_ready(void) { return 2; }
int tm_new(void) { return 3; }
int arena_new(void) { return 4; }
int kmod_open(void) { return 5; }
int failure_new(void) { return 6; }
int sync_one_cpu;
int main(void)
{
	struct simpler_worker *w = 0;
	SIMPLER_OPTS(simpler_worker_opts, o, .flags = SIMPLER_WORKER_THREADS);

	if (simpler_worker_create(&o, &w))
		return 1;
	simpler_worker_destroy(w);
	return werr() + task_ready() + tm_new() + arena_new() + kmod_open() + failure_new() +
	       sync_one_cpu == 21 ? 0 : 1;
}
APP
t "an application defining werr, tm_new, task_ready... links with libsimpler.a and runs" \
	'${CC:-cc} -I"$repo/lib/include" -o "$tmp/app" "$tmp/app.c" "$lib" -lpthread -ldl 2>"$tmp/err" &&
	 "$tmp/app" || { sed "s/^/# /" "$tmp/err"; false; }'

echo "# edges:"
echo "$edges" | awk '{ print "#   " $1 " -> " $2 }' | uniq
tap_end
