#!/bin/sh
# test/asan.sh: the whole test suite (kernel test, pg_regress, isolation,
# TAP, client libraries) against a build of the extension with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc: -fsanitize=address,
# undefined -fno-sanitize-recover=undefined), as root or as a user with
# sudo ("make check-asan").  Exit status is non-zero when a test failed or
# a sanitizer reported anything; the last line reads
# "asan: N passed, M failed".
#
# It never touches the system PostgreSQL: it copies the installation
# (bin, lib, share, include: about 60 MB) into a private directory, and
# builds and installs the instrumented extension there.  PostgreSQL finds
# its share and lib directories relative to its own executable, so the
# copy's pg_config, PGXS and server all point into the copy.  The copy's
# postgres is a wrapper that preloads the sanitizer runtime (the server
# itself is not instrumented, the extension is) and execs the real binary:
# so every server, the one for pg_regress and isolation and those the TAP
# tests initdb from PATH, runs with the runtime, and clients (psql, perl,
# make) do not.
#
#   ASAN_WORK=DIR     work there (default: a new /tmp/vector-asan.XXXXXX)
#   ASAN_KEEP=1       keep the work directory (it is removed on success)
#   ASAN_PORT=N       port of the pg_regress/isolation cluster (54339)
#   ASAN_TAP="FILES"  only these TAP files (default: all of test/t/*.pl)
#   ASAN_CLIENTS=0    skip the client-library tests
#   ASAN_CFLAGS=...   more compiler flags (e.g. -fsanitize=float-cast-overflow)
#   ASAN_EXTRA=a=1:.. more ASAN_OPTIONS for the servers
#
# Sanitizer reports land in WORK/sanitizer/{asan,ubsan}.PID, and each one
# counts as a failure.  Options (see the wrapper below):
#   detect_leaks=0      PostgreSQL frees by memory context, and exits
#                       without freeing: LeakSanitizer only reports noise.
#   abort_on_error=1    a report kills the backend (the test sees it too).
#   allocator_may_return_null=1
#                       PostgreSQL checks malloc() for NULL and raises
#                       "out of memory"; without this ASan dies instead.
# Nothing else was needed: no report came from PostgreSQL's own code (the
# server is not instrumented; ASan's interceptors, e.g. of memcpy, and of
# siglongjmp for ereport, see it), and the run is clean with the stricter
# ASAN_EXTRA=detect_stack_use_after_return=1:strict_string_checks=1 too.
# What ASan cannot see: palloc() carves chunks out of blocks that it
# malloc()s, so an overrun of a chunk smaller than the context's chunk
# limit (8 kB in a default context) or a use after pfree() of one is not
# detected; past the MAXALIGNed end of a larger chunk (malloc()ed alone),
# or after its pfree(), is.  Shared buffers are shared memory: not checked.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/test/lib.sh"

SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined ${ASAN_CFLAGS:-}"

if [ "${1:-}" != "--inner" ]; then
	start=$(date +%s)
	ensure_deps
	libasan=$(gcc -print-file-name=libasan.so)
	libubsan=$(gcc -print-file-name=libubsan.so)
	if [ ! -e "$libasan" ] || [ ! -e "$libubsan" ] || [ "$libasan" = libasan.so ]; then
		log "installing the sanitizer runtimes"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasan8 libubsan1 libgcc-12-dev
		libasan=$(gcc -print-file-name=libasan.so)
	fi

	if [ -n "${ASAN_WORK:-}" ]; then
		WORK=$ASAN_WORK
		# reuse only a directory of an earlier run (or an empty one)
		if [ -d "$WORK" ] && [ ! -f "$WORK/.vector-asan" ] && [ -n "$(ls -A "$WORK")" ]; then
			echo "asan: $WORK is not empty and not from test/asan.sh; not removing it" >&2
			exit 1
		fi
		rm -rf "$WORK"
		mkdir -p "$WORK"
	else
		WORK=$(mktemp -d /tmp/vector-asan.XXXXXX)
	fi
	touch "$WORK/.vector-asan"
	status=1
	cleanup() {
		if [ "${ASAN_KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
			[ -n "${reported:-}" ] || echo "asan: work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	}
	trap cleanup EXIT

	# The source, without build products (the checkout may hold a normal
	# build: every object must be rebuilt with the sanitizers).
	mkdir -p "$WORK/src" "$WORK/data" "$WORK/sanitizer"
	tar -C "$SRC" --exclude=./.git --exclude=./tmp_check --exclude=./results \
		--exclude=./output_iso --exclude=./build --exclude='./src/*.o' \
		--exclude='./src/*.bc' --exclude=./vector.so --exclude='./regression.*' \
		-cf - . | tar -C "$WORK/src" -xf -
	DATA_SRC=${VECTOR_DATA_DIR:-$SRC/../shared/data}
	if [ -d "$DATA_SRC/sift-128" ]; then cp -r "$DATA_SRC/sift-128" "$WORK/data/"; fi

	# The private PostgreSQL: the same relative layout as under /usr, so
	# that the relocatable binaries find their own share, lib and include.
	log "copying PostgreSQL $PG_MAJOR into $WORK/pg"
	mkdir -p "$WORK/pg/usr/lib/postgresql" "$WORK/pg/usr/share/postgresql" "$WORK/pg/usr/include"
	cp -a "/usr/lib/postgresql/$PG_MAJOR" "$WORK/pg/usr/lib/postgresql/"
	cp -a "/usr/share/postgresql/$PG_MAJOR" "$WORK/pg/usr/share/postgresql/"
	cp -a /usr/include/postgresql "$WORK/pg/usr/include/"
	if [ "$(id -u)" = 0 ]; then chown -R postgres: "$WORK"; fi

	status=0
	as_server_user env LIBASAN="$libasan" VECTOR_DATA_DIR="$WORK/data" \
		ASAN_CFLAGS="${ASAN_CFLAGS:-}" ASAN_EXTRA="${ASAN_EXTRA:-}" \
		ASAN_TAP="${ASAN_TAP:-}" ASAN_CLIENTS="${ASAN_CLIENTS:-1}" \
		sh "$WORK/src/test/asan.sh" --inner "$WORK" || status=$?
	elapsed=$(( $(date +%s) - start ))
	# shellcheck disable=SC2046
	set -- $(sed -n 's/^asan: \([0-9]*\) passed, \([0-9]*\) failed\(, \([0-9]*\) skipped\)\{0,1\}$/\1 \2 \4/p' \
		"$WORK/summary" 2>/dev/null)
	passed=${1:-0} failed=${2:-0} skipped=${3:-0}
	if [ ! -f "$WORK/done" ]; then
		echo "asan: the run stopped before its end (see above)"
		failed=$((failed + 1)); status=1
	fi
	if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
	if [ "${ASAN_KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
		echo "asan: work directory kept: $WORK"
	fi
	reported=1
	echo "asan: sanitizer build, ${elapsed}s"
	if [ "$skipped" = 0 ]; then
		echo "asan: $passed passed, $failed failed"
	else
		echo "asan: $passed passed, $failed failed, $skipped skipped"
	fi
	exit $status
fi

# ---- inner part: runs as the unprivileged user, inside the copy ----
WORK=$2
SANLOG="$WORK/sanitizer"
PG_BIN="$WORK/pg/usr/lib/postgresql/$PG_MAJOR/bin"
PG_CONFIG="$PG_BIN/pg_config"
export PG_BIN PG_CONFIG
cd "$WORK/src"
t0=$(date +%s)
laps=""
lap() { t1=$(date +%s); laps="${laps:+$laps, }$1 $((t1 - t0))s"; t0=$t1; }

# Paranoia: the copy must resolve into itself, or "make install" would
# write into the system installation.
for opt in --bindir --sharedir --pkglibdir --includedir-server --pgxs; do
	case $("$PG_CONFIG" "$opt") in
	"$WORK"/*) ;;
	*) echo "asan: pg_config $opt is outside $WORK: $("$PG_CONFIG" "$opt")" >&2; exit 1 ;;
	esac
done
# Nothing of a previous vector install in the copy (JIT would inline stale
# bitcode of the uninstrumented build).
pkglib=$("$PG_CONFIG" --pkglibdir)
share=$("$PG_CONFIG" --sharedir)
rm -rf "$pkglib/vector.so" "$pkglib/bitcode/vector" "$pkglib/bitcode/vector.index.bc" \
	"$share"/extension/vector.control "$share"/extension/vector--*.sql \
	"$("$PG_CONFIG" --includedir-server)/extension/vector"

# with_llvm=no: no bitcode, so JIT can only call the instrumented code.
MAKEVARS="PG_CONFIG=$PG_CONFIG with_llvm=no"
log "building with $SAN_FLAGS"
# shellcheck disable=SC2086
make -s $MAKEVARS clean
# shellcheck disable=SC2086
make -s -j2 $MAKEVARS COPT="$SAN_FLAGS"
# shellcheck disable=SC2086
make -s $MAKEVARS install
if ! ldd "$pkglib/vector.so" | grep -q libasan; then
	echo "asan: $pkglib/vector.so is not linked with libasan" >&2
	exit 1
fi

# The ASan runtime, preloaded, is initialised last of all the libraries
# (it has no constructor priority over them), so it starts lazily on the
# first malloc().  postgres links p11-kit (through gnutls, ldap), whose
# constructor calls newlocale(), which malloc()s holding libc's locale
# lock; ASan's start-up then calls dlerror(), which takes the same lock:
# the lock is left corrupt and the process hangs (psql -V does, under a
# plain LD_PRELOAD of libasan).  So a second preloaded library, linked
# with -z initfirst (its constructor runs before every other one), starts
# ASan with a malloc() of its own.
cat > "$WORK/asan_initfirst.c" <<'EOF'
#include <stdlib.h>
__attribute__((constructor)) static void
asan_init_first(void)
{
	void *volatile p = malloc(1);

	free(p);
}
EOF
gcc -shared -fPIC -O2 -Wl,-z,initfirst -o "$WORK/asan_initfirst.so" "$WORK/asan_initfirst.c"
PRELOAD="$LIBASAN:$WORK/asan_initfirst.so"

# The wrapper: postgres with the sanitizer runtime preloaded.  It must be
# first in the library list, before the extension is dlopen()ed.  exec
# keeps the PID, which pg_ctl checks against postmaster.pid; exec -a (bash)
# keeps the wrapper as argv[0], so that the server records the wrapper, not
# postgres.real, in postmaster.opts, from which "pg_ctl restart" starts it
# again.  (A server started without the runtime cannot load the extension:
# "ASan runtime does not come first in initial library list", exit 1.)
ASAN_OPTS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:log_path=$SANLOG/asan"
UBSAN_OPTS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$SANLOG/ubsan"
mv "$PG_BIN/postgres" "$PG_BIN/postgres.real"
cat > "$PG_BIN/postgres" <<EOF
#!/bin/bash
export LD_PRELOAD="$PRELOAD\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="$ASAN_OPTS\${ASAN_EXTRA:+:\$ASAN_EXTRA}"
export UBSAN_OPTIONS="$UBSAN_OPTS"
exec -a "$PG_BIN/postgres" "$PG_BIN/postgres.real" "\$@"
EOF
chmod 755 "$PG_BIN/postgres"

export PATH="$PG_BIN:$PATH"
# tests that measure the server's memory (RSS) skip that under a sanitizer
export VECTOR_SANITIZER=asan
passed=0
failed=0
skipped=0
summary() {
	line="asan: $passed passed, $failed failed"
	[ "$skipped" = 0 ] || line="$line, $skipped skipped"
	echo "$line" > "$WORK/summary"
}
summary
lap build

log "kernel test"
rc=0
# shellcheck disable=SC2086
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$SANLOG/asan" \
	UBSAN_OPTIONS="$UBSAN_OPTS" \
	make -s $MAKEVARS VK_CFLAGS="-O1 -g -Wall -Wextra $SAN_FLAGS" check-kernels \
	> "$WORK/kernels.out" 2>&1 || rc=$?
cat "$WORK/kernels.out"
if [ $rc = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
summary
lap kernels

# A private cluster for pg_regress and isolation (TAP tests make their own).
PGHOST="$WORK/sock"; PGPORT=${ASAN_PORT:-54339}; PGUSER=$(id -un)
export PGHOST PGPORT PGUSER
mkdir -p "$PGHOST"
cluster_start "$WORK/pgdata" "$PGHOST" "$PGPORT"
trap 'cluster_stop "$WORK/pgdata"' EXIT
# The runtime must be there after a restart too (pg_ctl restart runs the
# command line the server recorded in postmaster.opts).
"$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/pgdata/server.log" -w restart >/dev/null
pid=$(head -n 1 "$WORK/pgdata/postmaster.pid")
if ! grep -q libasan "/proc/$pid/maps"; then
	echo "asan: the postmaster ($pid) has no sanitizer runtime loaded" >&2
	exit 1
fi

# The canary: a function with a heap overflow, and one with an undefined
# shift, built like the extension, must each kill their backend and leave
# a report in $SANLOG.  This proves the whole chain (preload, options, log
# files, the scan below) before any test runs; the reports then move to
# $WORK/canary, out of the scan.
lap "cluster"
log "canary: the sanitizers must report a planted overflow and shift"
cat > "$WORK/canary.c" <<'EOF'
#include "postgres.h"
#include "fmgr.h"
#include <stdlib.h>

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(asan_canary);
Datum
asan_canary(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	char	   *volatile p = malloc(n);

	p[n] = 1;
	free(p);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(ubsan_canary);
Datum
ubsan_canary(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);

	PG_RETURN_INT32(1 << n);
}
EOF
# shellcheck disable=SC2086
gcc $SAN_FLAGS -fPIC -shared -I"$("$PG_CONFIG" --includedir-server)" \
	-o "$WORK/canary.so" "$WORK/canary.c"
mkdir -p "$WORK/canary"
# canary FUNCTION ARG PATTERN: call it until a report matching PATTERN
# appears, then wait for the end of the crash recovery that the abort
# starts (one more "ready to accept connections" in the server log).
# UBSan, beside ASan in gcc's runtimes, ignores log_path and writes to
# stderr: its reports are in the server logs.
ready() { grep -c 'ready to accept connections' "$WORK/pgdata/server.log" || true; }
found() { cat "$SANLOG"/* "$WORK/pgdata/server.log" 2>/dev/null | grep -c "$1" || true; }
canary() {
	n=$(ready)
	i=0
	until [ "$(found "$3")" -gt 0 ]; do
		i=$((i + 1))
		if [ $i -gt 30 ]; then
			echo "asan: canary $1 was not reported: the sanitizer setup does not work" >&2
			exit 1
		fi
		psql -X -q -d postgres \
			-c "CREATE FUNCTION pg_temp.$1(int) RETURNS int4 AS '$WORK/canary.so' LANGUAGE C STRICT" \
			-c "SELECT pg_temp.$1($2)" >/dev/null 2>&1 || sleep 1
	done
	for f in $(grep -l "$3" "$SANLOG"/* 2>/dev/null); do mv "$f" "$WORK/canary/"; done
	i=0
	while [ "$(ready)" -le "$n" ]; do
		i=$((i + 1)); [ $i -le 60 ] || { echo "asan: no restart after the canary" >&2; exit 1; }
		sleep 1
	done
	echo "canary $1: reported ($3)"
}
canary asan_canary 100 heap-buffer-overflow
canary ubsan_canary 40 'shift exponent'
# the final scan of the server log starts after the canaries
canary_lines=$(wc -l < "$WORK/pgdata/server.log")
if ls "$SANLOG"/* >/dev/null 2>&1; then
	echo "asan: unexpected sanitizer reports before the tests:" >&2
	head -n 40 "$SANLOG"/* >&2
	exit 1
fi
lap canary

# count_regress OUT STATUS: passed and failed tests in a pg_regress or
# isolation output; a failed run with no failed test counts as one.
count_regress() {
	p=$(grep -c '\.\.\. ok' "$1" || true)
	f=$(grep -c '\.\.\. FAILED\|\.\.\. failed' "$1" || true)
	if [ "$2" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
}

log "pg_regress"
rc=0
# shellcheck disable=SC2086
make $MAKEVARS installcheck ISOLATION= TAP_TESTS= > "$WORK/regress.out" 2>&1 || rc=$?
cat "$WORK/regress.out"
[ $rc = 0 ] || head -c 20000 regression.diffs 2>/dev/null || true
count_regress "$WORK/regress.out" $rc
summary
lap regress

log "isolation"
rc=0
# shellcheck disable=SC2086
make $MAKEVARS installcheck REGRESS= TAP_TESTS= > "$WORK/isolation.out" 2>&1 || rc=$?
cat "$WORK/isolation.out"
[ $rc = 0 ] || head -c 20000 output_iso/regression.diffs 2>/dev/null || true
count_regress "$WORK/isolation.out" $rc
summary
lap isolation

log "TAP"
# ASAN_TAP: the TAP files to run (default: all of them)
tapfiles=$(echo ${ASAN_TAP:-$(ls test/t/*.pl 2>/dev/null)})
# shellcheck disable=SC2086
make $MAKEVARS installcheck REGRESS= ISOLATION= PROVE_TESTS="$tapfiles" > "$WORK/tap.out" 2>&1 || true
cat "$WORK/tap.out"
# prove's report: files run, failed ones (a non-zero wait status or failed
# subtests), skipped ones; files a bail-out left unrun count as failed.
# shellcheck disable=SC2086
total=$(echo $tapfiles | wc -w)
files=$(sed -n 's/^Files=\([0-9]*\),.*/\1/p' "$WORK/tap.out")
files=${files:-0}
listed=$(grep -c '^test/t/.*(Wstat: ' "$WORK/tap.out" || true)
clean=$(grep -c '^test/t/.*(Wstat: 0 Tests: [0-9]* Failed: 0)' "$WORK/tap.out" || true)
bad=$((listed - clean + total - files))
if [ "$bad" = 0 ] && ! grep -q '^Result: PASS' "$WORK/tap.out"; then bad=1; fi
skip=$(grep -c '^test/t/.* skipped: ' "$WORK/tap.out" || true)
ok=$((files - (listed - clean) - skip)); [ $ok -ge 0 ] || ok=0
passed=$((passed + ok)); failed=$((failed + bad)); skipped=$((skipped + skip))
if [ "$bad" != 0 ]; then
	for f in tmp_check/log/regress_log_*; do
		grep -q "not ok\|Bail out\|died\|exited with" "$f" 2>/dev/null || continue
		echo "---- $f (failures, then the tail)"
		grep -h -A8 "not ok" "$f" | head -n 60
		tail -n 20 "$f"
	done
fi
summary
lap TAP

if [ "${ASAN_CLIENTS:-1}" != 0 ]; then
log "client libraries and ORMs (Python, Node)"
rc=0
PGDATABASE=postgres sh test/clients/run.sh > "$WORK/clients.out" 2>&1 || rc=$?
cat "$WORK/clients.out"
# shellcheck disable=SC2046
set -- $(sed -n 's/^clients: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/clients.out")
if [ $# = 2 ]; then
	passed=$((passed + $1)); failed=$((failed + $2))
	if [ $rc != 0 ] && [ "$2" = 0 ]; then failed=$((failed + 1)); fi
else
	failed=$((failed + 1))
fi
summary
lap clients
fi

cluster_stop "$WORK/pgdata"
trap - EXIT

# Every report is a failure: ASan's log files, and the reports written to
# stderr, which is the server logs (UBSan's, and ASan's when it could not
# open its log file) or the output of the kernel test.
log "sanitizer reports"
PATTERN='ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|ERROR: UndefinedBehaviorSanitizer\|runtime error:'
reports=0
for f in "$SANLOG"/*; do
	[ -s "$f" ] || continue
	reports=$((reports + 1))
	echo "---- $f"
	head -n 60 "$f"
done
tail -n +$((canary_lines + 1)) "$WORK/pgdata/server.log" > "$WORK/server-after-canary.log"
for f in "$WORK/server-after-canary.log" "$WORK/kernels.out" tmp_check/log/*.log; do
	[ -f "$f" ] || continue
	n=$(grep -c "$PATTERN" "$f" || true)
	[ "$n" != 0 ] || continue
	reports=$((reports + n))
	echo "---- $f"
	grep -A30 "$PATTERN" "$f" | head -n 80
done
echo "asan: $reports sanitizer reports"
echo "asan: time: $laps"
failed=$((failed + reports))
summary
touch "$WORK/done"
[ "$failed" = 0 ]
