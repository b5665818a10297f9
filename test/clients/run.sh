#!/bin/sh
# test/clients/run.sh: real client libraries against a running server with
# the vector extension installed.  The server comes from the libpq
# environment (PGHOST, PGPORT, PGUSER, PGDATABASE); the database must exist,
# the tests create the extension if it is not there yet.
#
#   python/  psycopg 3, SQLAlchemy (psycopg2), Django (psycopg2) — unittest
#   node/    pg + pgvector, knex, sequelize, drizzle-orm — node --test
#
# Installs nothing system-wide: it checks for what it needs and says what is
# missing.  npm ci (only when node/node_modules is absent) writes its cache
# inside this directory, so it works for a user whose HOME is unwritable.
# Exit status is non-zero when anything failed; the last line reads
# "clients: N passed, M failed".
set -u

DIR=$(cd "$(dirname "$0")" && pwd)
PYTHON=/usr/bin/python3
LOG=$(mktemp -d "${TMPDIR:-/tmp}/vector-clients.XXXXXX")
trap 'rm -rf "$LOG"' EXIT

passed=0
failed=0

log() { printf '==> %s\n' "$*"; }

# ---- prerequisites ----
missing=""
if [ -x "$PYTHON" ]; then
	for mod in numpy:python3-numpy psycopg:python3-psycopg psycopg2:python3-psycopg2 \
		sqlalchemy:python3-sqlalchemy django:python3-django; do
		"$PYTHON" -c "import ${mod%%:*}" >/dev/null 2>&1 || missing="$missing ${mod#*:}"
	done
else
	missing="$missing python3"
fi
# the machine's nodejs package ships npm too
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs"
if [ -n "$missing" ]; then
	echo "clients: missing Debian packages:$missing (apt-get install -y$missing)" >&2
	echo "clients: 0 passed, 1 failed"
	exit 1
fi

# ---- Python: one process per file (Django configures settings once) ----
export PYTHONDONTWRITEBYTECODE=1
for t in psycopg sqlalchemy django; do
	log "python: $t"
	out="$LOG/py_$t.out"
	(cd "$DIR/python" && "$PYTHON" -m unittest -v "test_$t") >"$out" 2>&1
	rc=$?
	cat "$out"
	ran=$(sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' "$out" | tail -n 1)
	bad=0
	for kind in failures errors; do
		n=$(sed -n "s/^FAILED (.*$kind=\([0-9][0-9]*\).*/\1/p" "$out" | tail -n 1)
		bad=$((bad + ${n:-0}))
	done
	skip=$(sed -n 's/.*skipped=\([0-9][0-9]*\).*/\1/p' "$out" | tail -n 1)
	if [ -z "$ran" ]; then
		# died before the summary (import error, no server, ...)
		failed=$((failed + 1))
	else
		[ $rc -ne 0 ] && [ $bad -eq 0 ] && bad=1
		# a failing setUpClass counts as an error of a test that never ran
		ok=$((ran - bad - ${skip:-0}))
		[ $ok -lt 0 ] && ok=0
		passed=$((passed + ok))
		failed=$((failed + bad))
	fi
done

# ---- Node.js ----
log "node: npm packages"
cd "$DIR/node" || exit 1
node_ok=1
if [ ! -d node_modules ]; then
	npm_config_cache="$DIR/node/.npm-cache" npm_config_update_notifier=false \
		npm ci --no-audit --no-fund || node_ok=0
fi
if [ $node_ok = 1 ]; then
	log "node: node --test"
	out="$LOG/node.out"
	node --test --test-concurrency=1 ./*.test.js >"$out" 2>&1
	rc=$?
	cat "$out"
	np=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
	nf=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
	nc=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
	if [ -z "$np" ]; then
		failed=$((failed + 1))
	else
		bad=$((${nf:-0} + ${nc:-0}))
		[ $rc -ne 0 ] && [ $bad -eq 0 ] && bad=1
		passed=$((passed + np))
		failed=$((failed + bad))
	fi
else
	echo "clients: npm ci failed" >&2
	failed=$((failed + 1))
fi

echo "clients: $passed passed, $failed failed"
[ $failed -eq 0 ]
