#!/bin/sh
# test/versions.sh: build and test the extension on other PostgreSQL major
# versions, each in a Debian root of its own made with debootstrap:
#   17  Debian 13 (trixie)     postgresql-17
#   18  Debian testing (forky)  postgresql-18
#   15  Debian 12 (bookworm)   postgresql-15 (only when asked: the host runs 15)
#   13  Debian 11 (bullseye)   postgresql-13 (only when asked)
#
#   test/versions.sh [--regress-only] [--switch] [--no-switch] [VERSION...]
#   test/versions.sh --host-tools | --prepare [VERSION...]
#
# Default: 17 and 18, each built with -Werror and run through pg_regress, the
# isolation specs and the TAP tests, then the switch from the real pgvector
# (Debian 13's postgresql-17-pgvector, and forky's postgresql-18-pgvector) in
# both roots (test/switch.sh).
# --regress-only runs pg_regress and isolation only, and no switch (CI).
# --switch runs only the switch test (17 and 18).
# --prepare only makes the roots (all at once) and caches them; test/run.sh
# runs it in the background while the main suite runs, then --regress-only.
# --host-tools only installs debootstrap and zstd on the host.
# VERSIONS_TAP="test/t/050_fdw_topk.pl ..." runs only those TAP files.
#
# Runs as root (debootstrap, chroot, mounts).  Each root is cached as a
# tarball under $VERSIONS_CACHE (default /var/tmp/vector-versions), so a
# second run skips the download and the package installation; every run
# unpacks a fresh copy, so nothing leaks from one run into the next.
# The mirror is the one apt uses here (/etc/apt/sources.list.d/debian.sources).
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VERSIONS_CACHE:-/var/tmp/vector-versions}
DATA_SRC=${VECTOR_DATA_DIR:-$SRC/../shared/data}
PORT=${VERSIONS_PORT:-5571}

log() { printf '==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { echo "versions.sh: $*" >&2; exit 1; }

mode=full
switch=yes
versions=""
for arg in "$@"; do
	case $arg in
	--regress-only) mode=regress; switch=no ;;
	--switch) mode=none; switch=yes ;;
	--prepare) mode=prepare; switch=no ;;
	--host-tools) mode=tools; switch=no ;;
	--no-switch) switch=no ;;
	1[0-9]) versions="$versions $arg" ;;
	*) die "usage: test/versions.sh [--regress-only] [--switch] [--no-switch] [VERSION...]" ;;
	esac
done
[ -n "$versions" ] || versions="17 18"


[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mount)"

codename() {
	case $1 in
	13) echo bullseye ;;
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo forky ;;
	*) die "no Debian release known for PostgreSQL $1" ;;
	esac
}

# The first URI of the main archive in apt's deb822 sources, else the
# one-line format, else Debian's own.
mirror() {
	m=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

ensure_host_tools() {
	need=""
	command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
	command -v zstd >/dev/null 2>&1 || need="$need zstd"
	if [ -n "$need" ]; then
		log "installing on the host:$need"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null; }
	fi
}

# What each root holds.  The pgvector package is only downloaded (into the
# cached apt archive), never installed: the switch test installs it itself.
packages() {
	echo "postgresql-$1 postgresql-server-dev-$1 build-essential libipc-run-perl"
}

# Never remove a root while anything is mounted inside it (ours, or what a
# failed debootstrap left).
umount_root() {
	for m in $(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if grep -q " $1/" /proc/mounts; then
		die "still mounted under $1; not removing it"
	fi
}

# make_root VERSION: a fresh root at $CACHE/<codename>, from the cached
# tarball when there is one, else from debootstrap (then cached).
make_root() {
	ver=$1
	code=$(codename "$ver")
	root=$CACHE/$code
	# the last field: bump it when the recipe below changes what is in a root
	key=$(printf '%s %s %s' "$code" "$(packages "$ver")" 2 | cksum | cut -d' ' -f1)
	tarball=$CACHE/$code-$key.tar.zst
	mkdir -p "$CACHE"
	# --prepare: a cached root is all it needs
	[ "${2:-}" = cache-only ] && [ -f "$tarball" ] && return 0
	umount_root "$root"
	# a root --prepare has just made and nothing has used: use it as it is
	if [ -f "$root/.unused-$key" ]; then
		rm -f "$root/.unused-$key"
		log "$code: using the root --prepare made"
		return
	fi
	rm -rf "$root"
	if [ -f "$tarball" ]; then
		log "$code: unpacking the cached root $tarball"
		mkdir -p "$root"
		zstd -dc "$tarball" | tar -C "$root" -xf -
		return
	fi
	m=$(mirror)
	log "$code: debootstrap from $m"
	script=""
	# bookworm's debootstrap knows no "forky": it is built like sid
	[ -f "/usr/share/debootstrap/scripts/$code" ] || script=/usr/share/debootstrap/scripts/sid
	umount_root "$root.tmp"
	rm -rf "$root.tmp"
	debootstrap --variant=minbase "$code" "$root.tmp" "$m" $script >"$CACHE/$code.debootstrap.log" 2>&1 ||
		{ tail -n 30 "$CACHE/$code.debootstrap.log"; umount_root "$root.tmp"; rm -rf "$root.tmp"; die "$code: debootstrap failed"; }
	umount_root "$root.tmp"
	mv "$root.tmp" "$root"
	printf 'deb %s %s main\n' "$m" "$code" >"$root/etc/apt/sources.list"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	# The mirror may be a snapshot whose Release is past its Valid-Until.
	printf 'Acquire::Check-Valid-Until "false";\nAcquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/99versions"
	# dpkg without an fsync per file, and without manuals and docs: most of
	# the installation's time otherwise (the root is thrown away or cached).
	printf 'force-unsafe-io\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/doc/*\npath-exclude=/usr/share/locale/*\n' \
		>"$root/etc/dpkg/dpkg.cfg.d/99versions"
	# No service may start inside the root; maintainer scripts need /proc.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	mount_root "$root"
	log "$code: installing $(packages "$ver")"
	chroot "$root" sh -c "export DEBIAN_FRONTEND=noninteractive
		apt-get update -q &&
		apt-get install -y -q --no-install-recommends $(packages "$ver") &&
		apt-get clean" >"$CACHE/$code.install.log" 2>&1 ||
		{ tail -n 30 "$CACHE/$code.install.log"; die "$code: package installation failed"; }
	# the switch test's pgvector, downloaded only (test/switch.sh installs it)
	chroot "$root" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only postgresql-$ver-pgvector" \
		>>"$CACHE/$code.install.log" 2>&1 || log "$code: no postgresql-$ver-pgvector to download"

	# Debian's package creates a cluster (policy-rc.d kept it from starting);
	# the tests make their own.
	chroot "$root" sh -c 'pg_dropcluster --stop '"$ver"' main 2>/dev/null || true'
	chroot "$root" sh -c 'id vtest >/dev/null 2>&1 || useradd -m -s /bin/sh vtest'
	umount_root "$root"
	log "$code: caching the root as $tarball"
	tar -C "$root" -cf - . | zstd -q -T2 -3 -o "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
	made=yes
}

mount_root() {
	mount -t proc proc "$1/proc"
	mkdir -p "$1/dev/shm"
	mount -t tmpfs -o mode=1777 tmpfs "$1/dev/shm"
	# debootstrap makes the device nodes it needs; make sure of the few
	# the server and the tests open.
	for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		n=${d%%:*}; mm=${d#*:}
		[ -c "$1/dev/$n" ] || { rm -f "$1/dev/$n"; mknod -m 666 "$1/dev/$n" c "${mm%:*}" "${mm#*:}"; }
	done
}

# run_in ROOT CMD: run a shell command inside ROOT as the test user.
run_in() {
	chroot "$1" runuser -u vtest -- env -i HOME=/home/vtest PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 sh -c "$2"
}

# copy_tree ROOT: the source tree (no build products) and the data set into
# the root, owned by the test user.
copy_tree() {
	dst=$1/home/vtest/vector
	rm -rf "$dst"
	mkdir -p "$dst" "$1/home/vtest/data"
	tar -C "$SRC" --exclude=.git --exclude=tmp_check --exclude=results --exclude=output_iso \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$dst" -xf -
	if [ -d "$DATA_SRC/sift-128" ]; then
		cp -r "$DATA_SRC/sift-128" "$1/home/vtest/data/"
	fi
	chroot "$1" chown -R vtest: /home/vtest
}

# build_in ROOT VERSION: build with -Werror as the test user, install as root.
build_in() {
	pgc=/usr/lib/postgresql/$2/bin/pg_config
	run_in "$1" "cd ~/vector && make -s -j2 PG_CONFIG=$pgc COPT=-Werror" || return 1
	chroot "$1" sh -c "cd /home/vtest/vector && make -s PG_CONFIG=$pgc install" >/dev/null
}

# test_in ROOT VERSION MODE: pg_regress and isolation against a private
# server; with MODE=full, the TAP tests too (they make their own servers).
test_in() {
	bin=/usr/lib/postgresql/$2/bin
	make_vars="PG_CONFIG=$bin/pg_config"
	run_in "$1" "
		set -e
		export PATH=$bin:\$PATH PGHOST=/tmp/vsock PGPORT=$PORT PGUSER=vtest
		mkdir -p /tmp/vsock
		rm -rf /tmp/vdata
		initdb -D /tmp/vdata -A trust -E UTF8 --no-sync >/dev/null
		pg_ctl -D /tmp/vdata -l /tmp/vdata.log -w \
			-o \"-k /tmp/vsock -p $PORT -c listen_addresses='' -c max_parallel_maintenance_workers=1\" start >/dev/null
		trap 'pg_ctl -D /tmp/vdata -m fast -w stop >/dev/null 2>&1 || true' EXIT
		cd ~/vector
		status=0
		make -s $make_vars installcheck TAP_TESTS= >/tmp/regress.out 2>&1 || status=1
		grep -E '^(ok|not ok|#|test )|tests passed|failed|FAILED' /tmp/regress.out | tail -n 80 || true
		if [ \$status != 0 ]; then
			for f in regression.diffs output_iso/regression.diffs; do
				[ -f \$f ] && { echo \"---- \$f\"; head -c 20000 \$f; }
			done
			exit 1
		fi
	" || return 1
	[ "$3" = full ] || return 0
	# the TAP layer's fuzz test (040) drives the server from Python
	if ! chroot "$1" python3 -c 'import psycopg' >/dev/null 2>&1; then
		log "$(basename "$1"): installing python3-psycopg for the fuzz test"
		chroot "$1" sh -c "export DEBIAN_FRONTEND=noninteractive
			apt-get install -y -q --no-install-recommends python3-psycopg ||
				{ apt-get update -q && apt-get install -y -q --no-install-recommends python3-psycopg; }" >/dev/null 2>&1 ||
			{ echo "cannot install python3-psycopg"; return 1; }
	fi
	run_in "$1" "
		export PATH=$bin:\$PATH VECTOR_DATA_DIR=/home/vtest/data
		cd ~/vector
		status=0
		make $make_vars installcheck REGRESS= ISOLATION= ${VERSIONS_TAP:+PROVE_TESTS=\"$VERSIONS_TAP\"} >/tmp/tap.out 2>&1 || status=1
		grep -E '^t/|^test/t/|Result:|Files=|not ok|Failed' /tmp/tap.out | tail -n 80 || true
		if [ \$status != 0 ]; then
			for f in tmp_check/log/regress_log_*; do
				grep -q 'not ok\|Bail out\|died\|exited with' \$f 2>/dev/null || continue
				echo \"---- \$f (failures, then the tail)\"
				grep -h -A8 'not ok' \$f | head -n 60
				tail -n 20 \$f
			done
			exit 1
		fi
	"
}

ensure_host_tools
[ "$mode" = tools ] && exit 0

# All roots at once: the time goes to the network and dpkg, not the CPU.
if [ "$mode" = prepare ]; then
	pids=""
	for ver in $versions; do
		(
			root=$CACHE/$(codename "$ver")
			trap 'umount_root "$root"' EXIT
			trap 'exit 1' INT TERM
			t0=$(date +%s)
			made=no
			make_root "$ver" cache-only
			umount_root "$root"
			[ "$made" = yes ] && touch "$root/.unused-$key"
			log "$(codename "$ver"): root ready in $(( $(date +%s) - t0 ))s"
		) &
		pids="$pids $!"
	done
	failed=0
	for p in $pids; do wait "$p" || failed=1; done
	exit $failed
fi

summary=""
failed=0
note() { summary="${summary:+$summary; }$1"; }

for ver in $versions; do
	t0=$(date +%s)
	code=$(codename "$ver")
	root=$CACHE/$code
	trap 'umount_root "$root"' EXIT
	trap 'exit 1' INT TERM
	if ! make_root "$ver"; then note "$ver: root FAILED"; failed=1; continue; fi
	t1=$(date +%s)
	mount_root "$root"
	copy_tree "$root"
	if [ "$mode" != none ]; then
		log "$code: building for PostgreSQL $ver with -Werror"
		if ! build_in "$root" "$ver"; then
			note "$ver: build FAILED"; failed=1
		else
			t2=$(date +%s)
			log "$code: testing on PostgreSQL $ver ($mode)"
			if test_in "$root" "$ver" "$mode"; then r=ok; else r=FAILED; failed=1; fi
			t3=$(date +%s)
			note "$ver: $mode $r (root $((t1 - t0))s, build $((t2 - t1))s, tests $((t3 - t2))s)"
		fi
	fi
	# Debian ships pgvector for 17 (0.8.0 in trixie) and 18 (forky's, 0.8.7 today)
	if [ "$switch" = yes ] && { [ "$ver" = 17 ] || [ "$ver" = 18 ]; }; then
		t4=$(date +%s)
		log "$code: switching from pgvector to vector"
		if sh "$SRC/test/switch.sh" "$root" "$ver"; then r=ok; else r=FAILED; failed=1; fi
		note "$ver: switch from pgvector $r ($(( $(date +%s) - t4 ))s)"
	fi
	umount_root "$root"
	trap - EXIT INT TERM
done

if [ $failed = 0 ]; then
	echo "versions: ALL PASSED ($summary)"
else
	echo "versions: FAILED ($summary)"
fi
exit $failed
