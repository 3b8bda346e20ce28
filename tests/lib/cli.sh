#!/bin/bash
# The simpler command's interface: --help of every command (as simpler
# --help lists them) exits 0 with its usage on stdout and nothing on
# stderr, and the man page names every option it shows; --version prints
# the version lib/include/simpler.h's macros spell; an unknown command or
# option and a bad value are named on stderr with exit status 2; --json of
# quick benchmark runs is JSON alone, with no progress line off a terminal
# and one on a terminal; tools/plot draws those runs as well-formed SVG
# naming their series.  Needs build/simpler (make tools), python3, gnuplot.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
simpler=${SIMPLER:-$repo/build/simpler}
plot=$repo/tools/plot
man1=$repo/man/man1/simpler.1
py=/usr/bin/python3
. "$repo/tests/lib/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "1..13"
if [ ! -x "$simpler" ]; then
	echo "# no $simpler: make tools"
	echo "0 passed, 1 failed"
	exit 1
fi

# every command, as the top-level --help lists them: "  bench work   summary"
commands=$("$simpler" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit }
	on { sub(/^  /, ""); sub(/  .*/, ""); print }')
echo "# commands: $(echo "$commands" | tr '\n' ' ')"

help_ok() {	# help_ok WORDS...: --help and -h exit 0, usage on stdout, stderr empty
	local opt rc
	for opt in --help -h; do
		"$simpler" "$@" $opt >"$tmp/out" 2>"$tmp/err"
		rc=$?
		[ $rc = 0 ] || { echo "# simpler $* $opt: exit $rc"; return 1; }
		[ ! -s "$tmp/err" ] || { echo "# simpler $* $opt: stderr: $(head -1 "$tmp/err")"; return 1; }
		head -1 "$tmp/out" | grep -qx "usage: simpler${*:+ $*}.*" ||
			{ echo "# simpler $* $opt: no usage line"; return 1; }
		grep -q -- "--help  *print this help" "$tmp/out" ||
			{ echo "# simpler $* $opt: --help not listed"; return 1; }
	done
}
every_help() {
	local c bad=0
	[ "$(echo "$commands" | wc -l)" -ge 9 ] || { echo "# too few commands listed"; return 1; }
	help_ok || bad=1
	help_ok bench || bad=1
	for c in $(echo "$commands" | tr ' ' '+'); do
		help_ok ${c//+/ } || bad=1
	done
	return $bad
}
t "--help and -h of simpler, simpler bench and every command: exit 0, usage on stdout only" every_help

# each option --help shows is in the man page, each command in its synopsis
man_has_all() {
	local c o bad=0
	for c in $(echo "$commands" | tr ' ' '+'); do
		grep -q "^\\\\fBsimpler ${c//+/ }\\\\fR" "$man1" || { echo "# simpler(1): no synopsis of '${c//+/ }'"; bad=1; }
		for o in $("$simpler" ${c//+/ } --help | sed -n '/^options:/,$p' | grep -oE '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,'); do
			grep -qF -- "$(echo "$o" | sed 's/-/\\-/g')" "$man1" ||
				{ echo "# simpler(1) does not name $o of '${c//+/ }'"; bad=1; }
		done
	done
	return $bad
}
t "simpler(1) has every command's synopsis and every option --help lists" man_has_all

# the version the header's SIMPLER_VERSION_{MAJOR,MINOR,PATCH} spell, as the Makefile reads it
# (tests/lib/version.sh checks the Makefile against the macros)
version=$(make -s -C "$repo" version)
echo "# version: $version"
version_ok() {
	local how
	[ -n "$version" ] || return 1
	for how in --version -V version; do
		"$simpler" $how >"$tmp/out" 2>"$tmp/err" || { echo "# simpler $how failed"; return 1; }
		head -1 "$tmp/out" | grep -q "^simpler $version\\( \\|$\\)" ||
			{ echo "# simpler $how: $(head -1 "$tmp/out")"; return 1; }
		[ ! -s "$tmp/err" ] || return 1
	done
}
t "--version, -V and version print simpler $version" version_ok

refused() {	# refused WORD ARGS...: exit 2, nothing on stdout, WORD named on stderr
	local word=$1 rc
	shift
	"$simpler" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	echo "#   simpler $*: $rc: $(head -1 "$tmp/err")"
	[ $rc = 2 ] && [ ! -s "$tmp/out" ] && grep -qF -- "$word" "$tmp/err"
}
unknown_command() {
	refused "'frobnicate'" frobnicate && refused "'frobnicate' for 'bench'" bench frobnicate
}
t "an unknown command is named, exit 2" unknown_command
unknown_option() {
	refused "unknown option '--frobnicate' for 'bench work'" bench work --frobnicate &&
		refused "unknown option '-Z' for 'bench dispatch'" bench dispatch -Z &&
		refused "unknown option '--frobnicate'" --frobnicate &&
		refused "unknown option '--frobnicate' for 'demo'" demo --frobnicate
}
t "an unknown option is named with its command, exit 2" unknown_option
bad_value() {
	refused "--reps: 'x' is not a number" bench tensormap --reps x &&
		refused "-n: 'abc' is not a number" bench dispatch -n abc &&
		refused "--chips: '1.5' is not a whole number" bench work --chips 1.5 &&
		refused "--reps: '17' is not in 1..16" bench hostbuf --reps 17 &&
		refused "--reps needs a value" bench check --reps &&
		refused "--chips: '0' is not in 1..64" demo --chips 0 &&
		refused "--only: 'x' is not one of gemm, stencil, indep" bench work --only x &&
		refused "unexpected argument 'stray' for 'info'" info stray
}
t "a bad, out-of-range or missing value, a stray argument: named, exit 2" bad_value

# quick runs, their JSON kept for tools/plot
json_ok() {	# json_ok NAME ARGS...: stdout is JSON alone and stderr empty (not a terminal)
	local name=$1 rc
	shift
	"$simpler" "$@" --json >"$tmp/$name.json" 2>"$tmp/$name.err"
	rc=$?
	[ $rc = 0 ] || { echo "# simpler $*: exit $rc: $(tail -1 "$tmp/$name.err")"; return 1; }
	$py -m json.tool "$tmp/$name.json" >/dev/null || { echo "# simpler $* --json: not JSON"; return 1; }
	[ ! -s "$tmp/$name.err" ] || { echo "# simpler $*: stderr: $(head -c 200 "$tmp/$name.err")"; return 1; }
}
quick_json() {	# every one, so that tools/plot below has its input whatever failed here
	local bad=0
	json_ok dispatch bench dispatch -n 64 --reps 1 || bad=1
	json_ok tensormap bench tensormap -n 1000 --reps 1 || bad=1
	json_ok hostbuf bench hostbuf --reps 1 || bad=1
	json_ok check bench check --reps 1 || bad=1
	json_ok allreduce bench allreduce --reps 1 || bad=1
	return $bad
}
t "bench dispatch, tensormap, hostbuf, check, allreduce --json: JSON alone, quiet stderr" quick_json
# bench work --json sends its tables to stderr: stdout alone is checked
work_ok() {
	"$simpler" bench work --seconds 0.02 --reps 1 --sizes 20,200 --loads 0 --json \
		>"$tmp/work.json" 2>"$tmp/work.err" || { tail -3 "$tmp/work.err" | sed 's/^/# /'; return 1; }
	$py -m json.tool "$tmp/work.json" >/dev/null && ! grep -q $'\r' "$tmp/work.err"
}
t "bench work --json: JSON alone on stdout, no progress line on stderr" work_ok
tty_progress() {	# on a terminal (script(1) gives one) the progress line shows
	command -v script >/dev/null || { echo "# no script(1)"; return 1; }
	script -qec "'$simpler' bench tensormap -n 1000 --reps 1" /dev/null >"$tmp/tty" </dev/null
	grep -q $'\r.*\\[1/7, ' "$tmp/tty" && grep -q "^repeat-1 " "$tmp/tty"
}
t "on a terminal a progress line shows, then the table" tty_progress

svg_ok() {	# svg_ok JSON SERIES...: tools/plot makes well-formed SVG naming each series
	local json=$1 svg=${1%.json}.svg s
	shift
	rm -f "$svg"
	"$plot" "$json" >/dev/null 2>"$tmp/plot.err" || { echo "# tools/plot $json: $(cat "$tmp/plot.err")"; return 1; }
	$py -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$svg" ||
		{ echo "# $svg is not well-formed XML"; return 1; }
	for s in "$@"; do
		grep -qF -- ">$s<" "$svg" || { echo "# $svg does not name '$s'"; return 1; }
	done
}
if ! command -v gnuplot >/dev/null; then
	echo "# no gnuplot: make deps (gnuplot-nox)"
fi
t "tools/plot: dispatch cost per task, every shape and mode named" \
	'svg_ok "$tmp/dispatch.json" "indep, processes" "chain, threads" "stencil4, processes" "1 chip" "4 chips"'
hostbuf_series() {	# the backends the JSON has, and a note for one it lacks
	local kmod
	kmod=$($py -c 'import json, sys; print([b for b in json.load(open(sys.argv[1]))["backends"] if b["backend"] == "kmod"][0]["available"])' "$tmp/hostbuf.json")
	if [ "$kmod" = True ]; then
		svg_ok "$tmp/hostbuf.json" "shm: every run" "kmod: every run"
	else
		svg_ok "$tmp/hostbuf.json" "shm: every run" "shm: first run after registering" &&
			grep -q ">kmod: not measured" "$tmp/hostbuf.svg"
	fi
}
t "tools/plot: host-buffer cost against size, each backend named or marked missing" hostbuf_series
t "tools/plot: speedup against task size, per mode" \
	'svg_ok "$tmp/work.json" threads processes sequential gemm stencil indep'
plot_refuses() {	# what it cannot draw: named, non-zero
	echo '{"bench":"tensormap"}' >"$tmp/tm.json"
	echo 'not json' >"$tmp/bad.json"
	! "$plot" "$tmp/tm.json" 2>"$tmp/err" && grep -q "tensormap" "$tmp/err" &&
		! "$plot" "$tmp/bad.json" 2>"$tmp/err" && grep -q "not JSON" "$tmp/err" &&
		! "$plot" --frobnicate 2>"$tmp/err" && grep -q -- "--frobnicate" "$tmp/err" &&
		"$plot" --help | grep -q "^usage: tools/plot"
}
t "tools/plot: --help; a bench it cannot draw, bad JSON or an unknown option is named" plot_refuses

tap_end
