#!/bin/sh
# test/switch.sh ROOT VERSION: switching a database from the real pgvector
# (Debian's postgresql-VERSION-pgvector) to this extension, both ways the
# README describes, in a Debian root test/versions.sh made and mounted (the
# tree copied to /home/vtest/vector, the pgvector package in apt's cache).
#
#  1. With pgvector installed: a database with every type, hnsw and ivfflat
#     indexes of every operator class, and pgvector's answers to every
#     query (exact, by a sequential scan) and checksums of every row, kept
#     in tables of the database itself (test/switch/setup.sql).  pg_dump.
#  2. Stop the server, remove the pgvector package, make install ours, start.
#  3. Dump and restore: pg_restore into a new database with no edits.
#  4. In place: the original database, in pgvector's catalog and on-disk
#     index format.  ALTER EXTENSION vector UPDATE; the catalog must then be
#     exactly a fresh CREATE EXTENSION's (test/switch/catalog.sql); every
#     pgvector index must raise "is not a valid ... index" until REINDEX.
#  5. In both: the rows as pgvector had them, the exact answers equal to
#     pgvector's, and the indexes' answers (after REINDEX) equal too: every
#     rank for ivfflat probing all lists, 95% of them for hnsw.
set -eu
ROOT=$1
VER=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
PORT=${VERSIONS_PORT:-5571}
BIN=/usr/lib/postgresql/$VER/bin
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

log() { printf '==> [%s] switch: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { echo "switch: FAILED: $*" >&2; run "pg_ctl -D /tmp/swdata -m fast -w stop >/dev/null 2>&1" || true; exit 1; }

# as the test user inside the root, with the server's environment
run() {
	chroot "$ROOT" runuser -u vtest -- env -i HOME=/home/vtest LANG=C.UTF-8 \
		PATH=$BIN:/usr/bin:/bin PGHOST=/tmp/swsock PGPORT=$PORT PGUSER=vtest sh -c "$1"
}
as_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 sh -c "$1"; }
psql_q() { run "psql -X -v ON_ERROR_STOP=1 -qAt -d $1 -c \"$2\""; }

cp -r "$SRC/test/switch" "$ROOT/tmp/switch-sql"
chmod -R a+rX "$ROOT/tmp/switch-sql"

log "building vector for PostgreSQL $VER and removing any installed copy"
run "cd ~/vector && make -s -j2 PG_CONFIG=$BIN/pg_config COPT=-Werror" || fail "build"
as_root "cd /home/vtest/vector && make -s PG_CONFIG=$BIN/pg_config uninstall" >/dev/null

deb=$(ls "$ROOT"/var/cache/apt/archives/postgresql-"$VER"-pgvector_*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
	log "downloading postgresql-$VER-pgvector"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	as_root "DEBIAN_FRONTEND=noninteractive apt-get update -q && apt-get install -y -q --download-only postgresql-$VER-pgvector" >/dev/null ||
		fail "cannot download postgresql-$VER-pgvector"
	deb=$(ls "$ROOT"/var/cache/apt/archives/postgresql-"$VER"-pgvector_*.deb 2>/dev/null | head -n 1)
fi
[ -n "$deb" ] || fail "no postgresql-$VER-pgvector package in the root's apt cache"
log "installing pgvector: $(basename "$deb")"
as_root "DEBIAN_FRONTEND=noninteractive dpkg -i /var/cache/apt/archives/$(basename "$deb")" >/dev/null ||
	fail "dpkg -i pgvector"

run "rm -rf /tmp/swdata /tmp/swsock && mkdir -p /tmp/swsock && initdb -D /tmp/swdata -A trust -E UTF8 --no-sync >/dev/null"
start() {
	run "pg_ctl -D /tmp/swdata -l /tmp/swdata.log -w -o \"-k /tmp/swsock -p $PORT -c listen_addresses=''\" start >/dev/null" ||
		fail "server start"
}
stop() { run "pg_ctl -D /tmp/swdata -m fast -w stop >/dev/null"; }
start

pgv=$(psql_q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
log "pgvector $pgv: building the database"
run "createdb src && psql -X -q -d src -f /tmp/switch-sql/setup.sql >/dev/null" || fail "setup on pgvector"
[ "$(psql_q src "SELECT extversion FROM pg_extension WHERE extname = 'vector'")" = "$pgv" ] || fail "not pgvector's extension"
n=$(psql_q src "SELECT record_results('pgvector exact', false)")
psql_q src "SELECT record_results('pgvector index', true); SELECT record_checksums('pgvector')" >/dev/null
log "pgvector answered $n ranks; dumping"
run "pg_dump -Fc -d src -f /tmp/src.dump" || fail "pg_dump"

log "swapping the package: remove pgvector, make install vector"
stop
as_root "DEBIAN_FRONTEND=noninteractive dpkg -r postgresql-$VER-pgvector" >/dev/null || fail "dpkg -r pgvector"
[ ! -e "$ROOT/usr/lib/postgresql/$VER/lib/vector.so" ] || fail "pgvector's vector.so is still there"
as_root "cd /home/vtest/vector && make -s PG_CONFIG=$BIN/pg_config install" >/dev/null || fail "make install"
start
ours=$(psql_q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
log "vector $ours installed"

# check DB PHASE MIN_HNSW_PERCENT: rows, exact answers and index answers
# against pgvector's
check() {
	db=$1; tag=$2
	psql_q "$db" "SELECT record_checksums('$tag')" >/dev/null || fail "$db: checksums"
	bad=$(psql_q "$db" "SELECT count(*) FROM checksums a FULL JOIN checksums b ON b.phase = '$tag' AND b.tbl = a.tbl
		WHERE a.phase = 'pgvector' AND (b.tbl IS NULL OR (a.n, a.text_md5, a.bin_md5) IS DISTINCT FROM (b.n, b.text_md5, b.bin_md5))")
	[ "$bad" = 0 ] || fail "$db: $bad tables' rows differ from pgvector's"
	psql_q "$db" "SELECT record_results('$tag exact', false); SELECT record_results('$tag index', true)" >/dev/null ||
		fail "$db: queries"
	for kind in exact index; do
		out=$(run "psql -X -q -d $db -v want='pgvector exact' -v got='$tag $kind' -f /tmp/switch-sql/compare.sql")
		echo "$out" | sed "s/^/    $db $kind: /"
		echo "$out" | while read -r tbl total same; do
			case $tbl in
			duplicates) [ "$total" = 0 ] || { echo "duplicate rows in $tag $kind"; exit 1; } ;;
			items_hnsw) if [ $kind = exact ]; then need=$total; else need=$((total * 95 / 100)); fi
				[ "$same" -ge "$need" ] || { echo "$tbl $kind: $same of $total ranks right"; exit 1; } ;;
			*) [ "$same" = "$total" ] || { echo "$tbl $kind: $same of $total ranks right"; exit 1; } ;;
			esac
		done || fail "$db: answers differ from pgvector's"
	done
}

# ---- dump and restore
log "dump and restore: pg_restore into a new database"
run "createdb restored && pg_restore --exit-on-error -d restored /tmp/src.dump" || fail "pg_restore"
[ "$(psql_q restored "SELECT extversion FROM pg_extension WHERE extname = 'vector'")" = "$ours" ] || fail "restored: not vector $ours"
check restored "restored"
log "dump and restore: rows and answers as pgvector's"

# ---- in place
log "in place: before ALTER EXTENSION UPDATE"
# pgvector's catalog on our library: errors are allowed (PostgreSQL itself
# refuses pgvector's ivfflat operator classes, whose support function
# numbers 4 and 5 our ivfflat does not have, "invalid amproc number"), a
# crash is not.
for q in "SELECT count(*), md5(string_agg(v::text, '' ORDER BY id)) FROM items_hnsw" \
	"SELECT count(*) FROM items_ivf" \
	"SET enable_seqscan = off; SELECT id FROM items_hnsw ORDER BY v <-> (SELECT v FROM items_hnsw WHERE id = 7) LIMIT 1"; do
	psql_q src "$q" >"$TMP/pre" 2>&1 </dev/null || true
	sed 's/^/    before update: /' "$TMP/pre"
	psql_q postgres "SELECT 1" >/dev/null </dev/null || fail "the server did not survive a query before the update"
done

run "psql -X -v ON_ERROR_STOP=1 -q -d src -c 'ALTER EXTENSION vector UPDATE'" || fail "ALTER EXTENSION vector UPDATE"
[ "$(psql_q src "SELECT extversion FROM pg_extension WHERE extname = 'vector'")" = "$ours" ] || fail "src: not updated to $ours"
run "createdb fresh && psql -X -q -d fresh -c 'CREATE EXTENSION vector'"
run "psql -X -q -d fresh -f /tmp/switch-sql/catalog.sql" >"$TMP/fresh.cat"
run "psql -X -q -d src -f /tmp/switch-sql/catalog.sql" >"$TMP/updated.cat"
if ! diff -u "$TMP/fresh.cat" "$TMP/updated.cat" >"$TMP/cat.diff"; then
	head -n 80 "$TMP/cat.diff"
	fail "the catalog updated from pgvector $pgv differs from a fresh CREATE EXTENSION ($(grep -c '^[-+][^-+]' "$TMP/cat.diff") lines)"
fi
log "in place: catalog after the update equals a fresh install ($(wc -l <"$TMP/fresh.cat") objects and members)"

# until REINDEX, every index pgvector built is refused, by name, with a hint
psql_q src "SELECT idx || ' ' || tbl || ' ' || col || ' ' || op FROM index_probes ORDER BY 1" >"$TMP/indexes"
[ "$(wc -l <"$TMP/indexes")" = "$(psql_q src "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam WHERE a.amname IN ('hnsw', 'ivfflat')")" ] || fail "index_probes misses an index"
while read -r idx tbl col op; do
	q="SET enable_seqscan = off; SELECT id FROM $tbl ORDER BY $col $op (SELECT $col FROM $tbl WHERE id = 7) LIMIT 3"
	if run "psql -X -qAt -d src -c \"$q\"" >"$TMP/err" 2>&1 </dev/null; then
		cat "$TMP/err"; fail "$idx: pgvector's index was read without an error before REINDEX"
	fi
	grep -q "index \"$idx\" is not a valid \(hnsw\|ivfflat\) index" "$TMP/err" &&
		grep -q "HINT:.*REINDEX" "$TMP/err" || { cat "$TMP/err"; fail "$idx: not the clear error before REINDEX"; }
done <"$TMP/indexes"
# a write goes through every index of the table: refused too, nothing written
for tbl in items_hnsw items_ivf; do
	q="INSERT INTO $tbl (id, v, h, s, b) SELECT 100000, v, h, s, b FROM $tbl WHERE id = 7"
	if run "psql -X -qAt -d src -c \"$q\"" >"$TMP/err" 2>&1 </dev/null; then
		fail "$tbl: an insert went into pgvector's indexes before REINDEX"
	fi
	grep -q "is not a valid \(hnsw\|ivfflat\) index" "$TMP/err" || { cat "$TMP/err"; fail "$tbl: not the clear error on insert"; }
done
[ "$(psql_q src "SELECT count(*) FROM items_hnsw WHERE id = 100000")" = 0 ] || fail "a refused insert left a row"
psql_q postgres "SELECT 1" >/dev/null || fail "the server did not survive pgvector's indexes"
log "in place: every pgvector index refused with the REINDEX hint"

run "psql -X -v ON_ERROR_STOP=1 -q -d src -c 'REINDEX TABLE items_hnsw' -c 'REINDEX TABLE items_ivf'" || fail "REINDEX"
check src "in place"
log "in place: rows and answers as pgvector's"
stop
echo "switch from pgvector $pgv to vector $ours: dump and restore ok, in place ok"
