# test/lib.sh: shell helpers shared by quickstart.sh and test/run.sh.
# Source it; it defines functions only (POSIX sh).

PG_MAJOR=${PG_MAJOR:-15}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

log() { printf '==> %s\n' "$*"; }

# Install what building and testing need, when something is missing.
ensure_deps() {
	need=""
	[ -x /usr/lib/postgresql/$PG_MAJOR/bin/postgres ] || need="$need postgresql-$PG_MAJOR"
	# pgxs.mk alone is not enough: a machine was seen with it but without
	# the server headers (postgres.h), where the build then failed
	[ -f /usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/makefiles/pgxs.mk ] &&
		[ -f /usr/include/postgresql/$PG_MAJOR/server/postgres.h ] || need="$need postgresql-server-dev-$PG_MAJOR"
	[ -d /usr/share/doc/postgresql-contrib ] || need="$need postgresql-contrib"
	command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || need="$need build-essential"
	perl -MIPC::Run -e 1 >/dev/null 2>&1 || need="$need libipc-run-perl"
	# the client tests: Debian's SQLAlchemy and Django speak psycopg2
	/usr/bin/python3 -c 'import numpy, psycopg, psycopg2, sqlalchemy, django' >/dev/null 2>&1 ||
		need="$need python3-numpy python3-psycopg python3-psycopg2 python3-sqlalchemy python3-django"
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need="$need nodejs npm"
	# the AArch64 kernel test: cross compiler, static libc, qemu-user
	command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && [ -f /usr/aarch64-linux-gnu/lib/libc.a ] ||
		need="$need gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
	command -v qemu-aarch64-static >/dev/null 2>&1 || need="$need qemu-user-static"
	if [ -n "$need" ]; then
		log "installing Debian packages:$need"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		# shellcheck disable=SC2086
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
	fi
	PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
	PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
	export PG_CONFIG PG_BIN
}

# Build in the current directory and install into PostgreSQL.
build_install() {
	log "building"
	make -s PG_CONFIG="$PG_CONFIG" -j2
	log "installing"
	as_root make -s PG_CONFIG="$PG_CONFIG" install
}

# The unprivileged OS user that runs the server: ourselves, or postgres
# when we are root (initdb refuses to run as root).
server_user() {
	if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the server user.
as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster_start DATADIR SOCKDIR PORT: initdb (once) and start a private
# cluster listening only on a Unix socket in SOCKDIR.
cluster_start() {
	if [ ! -f "$1/PG_VERSION" ]; then
		as_server_user "$PG_BIN/initdb" -D "$1" -A trust -E UTF8 --no-sync >/dev/null
	fi
	as_server_user "$PG_BIN/pg_ctl" -D "$1" -l "$1/server.log" -w \
		-o "-k $2 -p $3 -c listen_addresses='' -c max_parallel_maintenance_workers=1" start >/dev/null
}

cluster_stop() {
	as_server_user "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}
