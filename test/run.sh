#!/bin/sh
# test/run.sh: the whole test suite, one command, as root or as a user
# with sudo.  Installs what is missing, builds, installs, starts a
# throw-away cluster as an unprivileged user, runs every layer (kernel test,
# pg_regress, isolation, TAP, client libraries, and a sanitizer build),
# tears everything down and prints a summary.
# Exit status is non-zero when anything failed.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/test/lib.sh"

if [ "${1:-}" != "--inner" ]; then
	start=$(date +%s)
	ensure_deps
	cd "$SRC"
	# The Debian roots of PostgreSQL 17 and 18 (test/versions.sh) are made
	# in the background meanwhile: that is downloads and dpkg, little CPU.
	# VECTOR_VERSIONS=0 skips that layer.
	if [ "${VECTOR_VERSIONS:-1}" != 0 ]; then
		as_root sh "$SRC/test/versions.sh" --host-tools
		versions_log=$(mktemp /tmp/vector-versions.XXXXXX)
		as_root sh "$SRC/test/versions.sh" --prepare >"$versions_log" 2>&1 &
		versions_prep=$!
	fi
	build_install

	# Run from a copy the server user owns: initdb refuses root, and the
	# checkout (or its parent, e.g. /root) may not be readable by postgres.
	WORK=$(mktemp -d /tmp/vector-test.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
	tar -C "$SRC" --exclude=.git --exclude=tmp_check --exclude=results -cf - . | tar -C "$WORK" -xf -
	mkdir -p "$WORK/data"
	DATA_SRC=${VECTOR_DATA_DIR:-$SRC/../shared/data}
	if [ -d "$DATA_SRC" ]; then
		for set in sift-128; do
			[ -d "$DATA_SRC/$set" ] && cp -r "$DATA_SRC/$set" "$WORK/data/"
		done
	fi
	if [ "$(id -u)" = 0 ]; then chown -R postgres: "$WORK"; fi

	status=0
	as_server_user env PG_CONFIG="$PG_CONFIG" PG_BIN="$PG_BIN" VECTOR_DATA_DIR="$WORK/data" \
		sh "$WORK/test/run.sh" --inner || status=$?

	# The sanitizer layer: the extension built with ASan and UBSan, in a
	# private copy of PostgreSQL, through the kernel test, pg_regress,
	# isolation and the TAP tests of bad input, WAL replay, damaged indexes,
	# concurrent churn, interrupts, hnsw VACUUM and page extension under
	# concurrency, and the planner hook (every report fails
	# it).  "make check-asan" runs every layer
	# that way; VECTOR_ASAN=0 skips this one.
	asan=""
	if [ "${VECTOR_ASAN:-1}" != 0 ]; then
		log "sanitizer build: kernels, pg_regress, isolation, seven TAP tests"
		tap="test/t/014_hnsw_input.pl test/t/021_ivfflat_wal.pl test/t/022_index_check.pl"
		tap="$tap test/t/044_churn_soak.pl test/t/045_interrupts.pl test/t/046_hnsw_concurrency.pl"
		tap="$tap test/t/050_fdw_topk.pl"
		if ASAN_TAP="$tap" \
			ASAN_CLIENTS=0 sh "$SRC/test/asan.sh"; then
			asan=", asan ok"
		else
			asan=", asan FAILED"; status=1
		fi
	fi
	# pg_regress and isolation on PostgreSQL 17 and 18, in their roots
	versions=""
	if [ "${VECTOR_VERSIONS:-1}" != 0 ]; then
		log "PostgreSQL 17 and 18: pg_regress and isolation (test/versions.sh --regress-only)"
		if wait "$versions_prep" && as_root sh "$SRC/test/versions.sh" --regress-only; then
			versions=", 17+18 ok"
		else
			cat "$versions_log"
			versions=", 17+18 FAILED"; status=1
		fi
		rm -f "$versions_log"
	fi
	elapsed=$(( $(date +%s) - start ))
	if [ $status = 0 ]; then
		echo "vector tests: ALL PASSED ($(cat "$WORK/summary")$asan$versions, ${elapsed}s)"
	else
		echo "vector tests: FAILED ($(cat "$WORK/summary" 2>/dev/null || echo setup failed)$asan$versions, ${elapsed}s)"
	fi
	exit $status
fi

# ---- inner part: runs as the unprivileged user, inside the copy ----
cd "$SRC"
export PATH="$PG_BIN:$PATH"
summary=""
failed=0
note() { summary="${summary:+$summary, }$1"; echo "$summary" > "$SRC/summary"; }

# A private cluster for pg_regress and isolation (TAP tests make their own).
PGHOST="$SRC/sock"; PGPORT=54329; PGUSER=$(id -un)
export PGHOST PGPORT PGUSER
mkdir -p "$PGHOST"
cluster_start "$SRC/pgdata" "$PGHOST" "$PGPORT"
trap 'cluster_stop "$SRC/pgdata"' EXIT

log "kernel test"
if make -s PG_CONFIG="$PG_CONFIG" check-kernels; then note "kernels ok"; else note "kernels FAILED"; failed=1; fi
log "kernel test, AArch64 (cross-compiled, under qemu)"
if make -s PG_CONFIG="$PG_CONFIG" check-kernels-arm64; then note "arm64 kernels ok"; else note "arm64 kernels FAILED"; failed=1; fi

log "pg_regress, isolation and TAP tests"
if make PG_CONFIG="$PG_CONFIG" installcheck; then
	note "regress+isolation+tap ok"
else
	note "regress+isolation+tap FAILED"; failed=1
	for f in regression.diffs output_iso/regression.diffs; do
		[ -f "$f" ] && { echo "---- $f"; head -c 20000 "$f"; }
	done
	for f in tmp_check/log/regress_log_*; do
		grep -q "not ok\|Bail out\|died\|exited with" "$f" 2>/dev/null || continue
		echo "---- $f (failures, then the tail)"
		grep -h -A8 "not ok" "$f" | head -n 60
		tail -n 20 "$f"
	done
fi
log "client libraries and ORMs (Python, Node)"
if sh test/clients/run.sh; then note "clients ok"; else note "clients FAILED"; failed=1; fi
exit $failed
