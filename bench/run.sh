#!/usr/bin/env bash
# bench/run.sh - detbuild's cost against native and libfaketime, side by side (issue 3).
# See bench/README.md for what each number means. Needs bash >= 5 (EPOCHREALTIME).
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [--quick] [--install] [--runs N] [--jobs N] [--detbuild PATH] [--out FILE]
                    [--only calls|spawn|build] [--keep]

Measures native vs detbuild vs libfaketime in one run: per-call cost of the clock,
getrandom, /dev/urandom and readdir; process start (posix_spawn and a shell loop);
and a real build (busybox from Debian's sources, `make defconfig && make -jN`).

  --quick          tiny counts, no real build, no network; table goes to stdout
                   (CI uses this to check the programs build and run)
  --install        apt-get install what is missing (gcc make libc6-dev bzip2 libfaketime)
  --runs N         timed runs per column for the real build (default 5; median shown)
  --jobs N         -j for the real build (default: nproc)
  --detbuild PATH  launcher to test (default: target/release/detbuild; the shim
                   libdetbuild_shim.so must sit beside it)
  --out FILE       where the markdown goes (default docs/BENCHMARKS.md; quick: stdout)
  --only PART      run one part only (calls, spawn or build); the others show n/a
  --keep           keep the temporary work directory
Full mode takes about 17 minutes on 2 cores and needs the Debian archive for the
busybox source (fetched once with `apt-get source`, cached in ~/.cache/detbuild-bench).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0 INSTALL=0 RUNS=5 JOBS=$(nproc) KEEP=0 OUT="" ONLY=""
DETBUILD=${DETBUILD_BIN:-$ROOT/target/release/detbuild}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--install) INSTALL=1 ;;
	--runs) RUNS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--detbuild) DETBUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
unset LD_PRELOAD FAKETIME # the harness itself always runs unshimmed
note() { echo "run.sh: $*" >&2; }
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

if [ "$INSTALL" = 1 ]; then
	note "installing gcc make libc6-dev bzip2 libfaketime with apt-get"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc make libc6-dev bzip2 libfaketime >/dev/null
fi
command -v gcc >/dev/null || { note "gcc not found: apt-get install gcc (or rerun with --install)"; exit 2; }
if [ ! -x "$DETBUILD" ] || [ ! -f "$(dirname "$DETBUILD")/libdetbuild_shim.so" ]; then
	note "detbuild not built ($DETBUILD or libdetbuild_shim.so missing): run 'cargo build --release' in $ROOT"
	exit 2
fi
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
LFT=${LIBFAKETIME:-/usr/lib/${MULTIARCH:-x86_64-linux-gnu}/faketime/libfaketime.so.1}
FT_DATE="@2020-01-01 00:00:00"
MODES="native detbuild libfaketime"
if [ ! -f "$LFT" ]; then
	note "libfaketime not found ($LFT): its column is n/a (apt-get install libfaketime, or --install)"
	MODES="native detbuild"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit yet") # at start: HEAD may move
git -C "$ROOT" diff --quiet HEAD -- shim launcher 2>/dev/null || COMMIT="$COMMIT + uncommitted changes"
awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }' &&
	note "the machine is busy (load average $LOAD_START): wall times will be noisy; the CPU-time row less so"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/detbuild-bench.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then note "work dir kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
# Measure a snapshot: a `cargo build` during the run must not swap the binaries halfway.
mkdir "$WORK/detbuild-bin"
cp "$DETBUILD" "$(dirname "$DETBUILD")/libdetbuild_shim.so" "$WORK/detbuild-bin/"
SHIM_BYTES=$(wc -c <"$WORK/detbuild-bin/libdetbuild_shim.so")
DETBUILD_ORIGIN=$(realpath --relative-to="$ROOT" "$DETBUILD" 2>/dev/null || echo "$DETBUILD")
DETBUILD=$WORK/detbuild-bin/$(basename "$DETBUILD")
CFLAGS="-O2 -Wall -Wextra -Werror"
gcc $CFLAGS -pthread -o "$WORK/calls" "$ROOT/bench/calls.c"
gcc $CFLAGS -o "$WORK/spawn" "$ROOT/bench/spawn.c"
gcc $CFLAGS -pthread -o "$WORK/waits" "$ROOT/bench/waits.c" # run by hand (see its header); built so CI keeps it compiling

if [ "$QUICK" = 1 ]; then
	SECS=0.02 REPS=1 NSPAWN=20 NLOOP=20
else
	SECS=1 REPS=3 NSPAWN=1000 NLOOP=1000
fi
RES=$WORK/results.tsv # id <TAB> mode <TAB> value, one line per repetition
: >"$RES"
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"; }

# Run "$@" under one mode. The launcher is used as a user would use it.
under() {
	local mode=$1; shift
	case $mode in
	native) "$@" ;;
	detbuild) "$DETBUILD" -- "$@" ;;
	libfaketime) LD_PRELOAD=$LFT FAKETIME=$FT_DATE "$@" ;;
	esac
}
rotated() { # the column order shifts each repetition so no column always goes first
	local -a a=($MODES); local k=$(($1 % ${#a[@]}))
	echo "${a[*]:k} ${a[*]:0:k}"
}
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; } # bash builtin, never preloaded

# ---- per-call microbenchmarks ------------------------------------------------------
part calls && "$WORK/calls" populate "$WORK/dir10k" 10000
CALL_CASES="clock_realtime:1 clock_monotonic:1 time:1 gettimeofday:1 clock_realtime:2
clock_monotonic:2 time:2 gettimeofday:2 getrandom_32:1 getrandom_64k:1 urandom_read_4k:1
urandom_open_read_close_4k:1 readdir_10k:1 thread_create_join:1 fork_wait:1"
part calls && note "per-call microbenchmarks (${SECS}s x $REPS reps per case and column)"
part calls && for rep in $(seq "$REPS"); do
	for cc in $CALL_CASES; do
		c=${cc%:*} t=${cc#*:}
		for m in $(rotated "$rep"); do
			if ! line=$(under "$m" "$WORK/calls" "$c" "$SECS" "$t" "$WORK/dir10k" 2>>"$WORK/errors.log"); then
				note "calls $c under $m failed (see stderr below)"; tail -3 "$WORK/errors.log" >&2; continue
			fi
			ns=${line#*ns_per_call=}; ns=${ns%% *}; mbs=${line##*mb_per_s=}
			rec "$c/$t" "$m" "$ns"
			case $c in getrandom* | urandom*) rec "$c/$t/mbs" "$m" "$mbs" ;; esac
		done
	done
done

# ---- process start -----------------------------------------------------------------
# Both use the unshimmed C driver: the preload is only in the child's environment, and
# the launcher's own start is not counted (it is measured on its own below).
spawn_under() { # MODE COUNT PROG [ARGS...]
	local mode=$1 n=$2; shift 2
	case $mode in
	native) "$WORK/spawn" "$n" -- "$@" ;;
	detbuild) (text=$("$DETBUILD" env --format sh --epoch 1700000000) || exit 2
		eval "$text"; pre=$LD_PRELOAD; unset LD_PRELOAD
		exec "$WORK/spawn" "$n" "LD_PRELOAD=$pre" -- "$@") ;;
	libfaketime) "$WORK/spawn" "$n" "LD_PRELOAD=$LFT" "FAKETIME=$FT_DATE" -- "$@" ;;
	esac
}
LOOP='i=0; while [ $i -lt '$NLOOP' ]; do /bin/true; i=$((i+1)); done'
part spawn && note "process start ($NSPAWN posix_spawns and a $NLOOP-process sh loop, x5 per column)"
part spawn && for rep in 1 2 3 4 5; do
	for m in $(rotated "$rep"); do
		if line=$(spawn_under "$m" "$NSPAWN" /bin/true 2>>"$WORK/errors.log"); then
			rec spawn "$m" "${line##*us_per_exec=}"
		else note "spawn under $m failed"; tail -3 "$WORK/errors.log" >&2; fi
		if line=$(spawn_under "$m" 1 /bin/sh -c "$LOOP" 2>>"$WORK/errors.log"); then
			rec shloop "$m" "$(awk -v t="${line##*us_per_exec=}" -v n="$NLOOP" 'BEGIN { printf "%.1f", t / n }')"
		else note "sh loop under $m failed"; tail -3 "$WORK/errors.log" >&2; fi
	done
	# What `detbuild -- CMD` adds once per build: the launcher's own start.
	line=$("$WORK/spawn" $((NSPAWN / 5)) -- "$DETBUILD" -- /bin/true) && rec launcher detbuild "${line##*us_per_exec=}"
done

# ---- real build ----------------------------------------------------------------------
BUILD_NAME=""
fetch_busybox() { # apt-get source into a private apt state: no deb-src line needed in /etc/apt
	local cache=${DETBUILD_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/detbuild-bench}
	local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} suite
	suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}"); suite=${suite:-bookworm}
	mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial"
	TARBALL=$(ls "$cache"/busybox_*.orig.tar.* 2>/dev/null | head -1 || true)
	[ -n "$TARBALL" ] && return 0
	echo "deb-src $mirror $suite main" >"$cache/apt/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt" -o APT::Sandbox::User=root)
	note "fetching busybox source: apt-get source busybox ($mirror $suite), once"
	apt-get "${opts[@]}" -qq update && (cd "$cache" && apt-get "${opts[@]}" -qq source --download-only busybox) >&2 || return 1
	TARBALL=$(ls "$cache"/busybox_*.orig.tar.* 2>/dev/null | head -1 || true)
	[ -n "$TARBALL" ]
}
build_once() { # MODE -> "wall_s cpu_s" on stdout; the untar is not timed
	rm -rf "$WORK/build"; mkdir -p "$WORK/build"; tar -xf "$TARBALL" -C "$WORK/build"
	local src TIMEFORMAT='%3R %3U %3S' real user sys; src=$(echo "$WORK"/build/busybox-*)
	# bash's `time` keyword: wall time, and user+sys CPU of every process of the build.
	{ time { (cd "$src" && under "$1" sh -c "make -s defconfig && make -s -j$JOBS") >"$WORK/build-$1.log" 2>&1; }; } \
		2>"$WORK/time.txt" || return 1
	[ -x "$src/busybox" ] || return 1
	read -r real user sys <"$WORK/time.txt"
	awk -v r="$real" -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f %.2f", r, u + s }'
}
if [ "$QUICK" = 0 ] && part build; then
	if fetch_busybox; then
		BUILD_NAME=$(basename "$TARBALL"); BUILD_NAME=${BUILD_NAME%.orig.tar.*}
		note "real build: $BUILD_NAME, make defconfig && make -j$JOBS; 1 warm-up + $RUNS runs per column (~25 s each)"
		build_once native >/dev/null || note "warm-up build failed: see $WORK/build-native.log"
		for rep in $(seq "$RUNS"); do
			for m in $(rotated "$rep"); do
				if s=$(build_once "$m"); then rec build "$m" "${s% *}"; rec buildcpu "$m" "${s#* }"
				else note "build under $m failed; last lines:"; tail -5 "$WORK/build-$m.log" >&2; fi
			done
		done
	else
		note "could not fetch the busybox source with apt-get source: real build skipped"
	fi
fi

# ---- report --------------------------------------------------------------------------
. "$ROOT/bench/report.sh"
[ -z "$OUT" ] && [ "$QUICK" = 0 ] && OUT=$ROOT/docs/BENCHMARKS.md
if [ -n "$OUT" ]; then mkdir -p "$(dirname "$OUT")"; report >"$OUT"; note "wrote $OUT"; else report; fi
echo
ratios
