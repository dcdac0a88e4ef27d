#!/usr/bin/env bash
# scripts/test.sh - the project's test command.
#
# Makes PostgreSQL and MariaDB available, exports the DSNs the tests read, and
# runs `go vet ./...` and `go test -race -count=1 ./...`. Extra arguments are
# passed to go test:
#
#   ./scripts/test.sh                      # everything
#   ./scripts/test.sh -run TestProvision   # a subset
#
# Databases:
#   KIRAYEDAR_POSTGRES_DSN, KIRAYEDAR_MYSQL_DSN
#       When set, they are used as given and no server is touched.
#       When unset, the local servers are used (and installed, started and
#       prepared as needed; that needs root on Debian/Ubuntu):
#         PostgreSQL: user postgres, trust auth on 127.0.0.1:5432, database test
#         MariaDB:    root with an empty password on 127.0.0.1:3306, database test
#   KIRAYEDAR_PGBOUNCER_DSN
#       PgBouncer in transaction pooling mode in front of that PostgreSQL,
#       for the tests that run through it. When unset and PostgreSQL is the
#       local one, PgBouncer is installed (Debian's package) and started on
#       127.0.0.1:6442 with a configuration of this script's; set it to
#       "off" to skip those tests.
#   KIRAYEDAR_DB_WAIT
#       Seconds to wait for each server to answer (default 60).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WAIT_SECONDS="${KIRAYEDAR_DB_WAIT:-60}"

DEFAULT_POSTGRES_DSN='host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable'
DEFAULT_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test?parseTime=true&multiStatements=false'

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
MY_HOST=127.0.0.1
MY_PORT=3306
TEST_DB=test
MARIADB_LOG="${TMPDIR:-/tmp}/kirayedar-mariadbd.log"
BOUNCER_PORT=6442

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'scripts/test.sh: ERROR: %s\n' "$*" >&2
	exit 1
}

# as_root runs a command as root, through sudo when we are not root.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (run as root, install sudo, or set KIRAYEDAR_POSTGRES_DSN/KIRAYEDAR_MYSQL_DSN)"
	fi
}

# as_postgres runs a command as the postgres OS user (peer auth on the socket).
as_postgres() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		as_root -u postgres "$@" # sudo -u postgres ...
	fi
}

# wait_until DESCRIPTION COMMAND... retries COMMAND every second until it
# succeeds or WAIT_SECONDS have passed; it returns non-zero on timeout.
wait_until() {
	local what=$1
	shift
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			printf 'scripts/test.sh: timed out after %ss waiting for %s\n' "$WAIT_SECONDS" "$what" >&2
			return 1
		fi
		sleep 1
	done
}

# ---------------------------------------------------------------- installing

# Newest PostgreSQL major version with server binaries, or nothing.
pg_version() {
	local d v=""
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[[ -x $d ]] || continue
		d=${d#/usr/lib/postgresql/}
		d=${d%%/*}
		if [[ -z $v ]] || ((d > v)); then v=$d; fi
	done
	printf '%s' "$v"
}

# The version of the cluster to run: the newest one that has a "main" cluster
# in /etc/postgresql, else the newest installed server.
pg_cluster_version() {
	local d v=""
	for d in /etc/postgresql/*/main; do
		[[ -d $d ]] || continue
		d=${d#/etc/postgresql/}
		d=${d%%/*}
		if [[ -z $v ]] || ((d > v)); then v=$d; fi
	done
	if [[ -z $v ]]; then v=$(pg_version); fi
	printf '%s' "$v"
}

pg_installed() {
	[[ -n $(pg_version) ]] && command -v pg_ctlcluster >/dev/null 2>&1 &&
		command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1
}

mariadb_installed() {
	[[ -x /usr/sbin/mariadbd ]] && command -v mariadb >/dev/null 2>&1 &&
		command -v mariadb-admin >/dev/null 2>&1
}

install_missing_servers() {
	local packages=()
	if [[ $manage_pg == 1 ]] && ! pg_installed; then packages+=(postgresql); fi
	if [[ $manage_my == 1 ]] && ! mariadb_installed; then packages+=(mariadb-server); fi
	if [[ $manage_bouncer == 1 ]] && ! command -v pgbouncer >/dev/null 2>&1 && [[ ! -x /usr/sbin/pgbouncer ]]; then
		packages+=(pgbouncer)
	fi
	if ((${#packages[@]} == 0)); then return 0; fi
	command -v apt-get >/dev/null 2>&1 ||
		die "${packages[*]} not installed and apt-get not found; install them or set KIRAYEDAR_POSTGRES_DSN/KIRAYEDAR_MYSQL_DSN"
	log "installing ${packages[*]}"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
}

# ---------------------------------------------------------------- PostgreSQL

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

# pg_sql DATABASE SQL runs SQL over TCP as user postgres, never prompting.
pg_sql() { psql -X -w -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$1" -v ON_ERROR_STOP=1 -tAc "$2"; }

ensure_postgres() {
	if pg_ready; then
		log "PostgreSQL is running on $PG_HOST:$PG_PORT"
	else
		local version
		version=$(pg_cluster_version)
		[[ -n $version ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
		if [[ ! -d /etc/postgresql/$version/main ]]; then
			log "creating PostgreSQL $version cluster main"
			as_root pg_createcluster "$version" main
		fi
		log "starting PostgreSQL $version cluster main"
		# A failure here (say, it is already starting) is judged by the wait.
		as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start </dev/null ||
			log "pg_ctlcluster start failed; waiting anyway"
	fi
	wait_until "PostgreSQL (pg_isready -h $PG_HOST -p $PG_PORT)" pg_ready ||
		die "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT"

	# A fresh cluster asks for a password on TCP: trust the loopback address
	# for the tests. The first matching pg_hba.conf line wins, so it goes on top.
	if ! pg_sql postgres 'SELECT 1' >/dev/null 2>&1; then
		local hba
		hba=$(as_postgres psql -X -w -tAc 'SHOW hba_file') ||
			die "cannot log in to PostgreSQL as $PG_USER over TCP, nor as postgres over the local socket"
		log "allowing trust auth for $PG_HOST/32 in $hba"
		as_root sed -i "1i host all all $PG_HOST/32 trust # added by kirayedar scripts/test.sh" "$hba"
		as_postgres psql -X -w -q -tAc 'SELECT pg_reload_conf()' >/dev/null
		wait_until "PostgreSQL login as $PG_USER over TCP" pg_sql postgres 'SELECT 1' ||
			die "cannot log in to PostgreSQL as $PG_USER on $PG_HOST:$PG_PORT after setting trust auth"
	fi

	if [[ $(pg_sql postgres "SELECT 1 FROM pg_database WHERE datname = '$TEST_DB'") != 1 ]]; then
		log "creating PostgreSQL database $TEST_DB"
		pg_sql postgres "CREATE DATABASE $TEST_DB"
	fi
	pg_sql "$TEST_DB" 'SELECT 1' >/dev/null ||
		die "cannot query PostgreSQL database $TEST_DB on $PG_HOST:$PG_PORT"
}

# ---------------------------------------------------------------- MariaDB

# The server answers on TCP (even if it refuses our login).
my_alive() { mariadb-admin --protocol=tcp -h"$MY_HOST" -P"$MY_PORT" -uroot --connect-timeout=2 ping; }

# my_sql SQL runs SQL over TCP as root with no password.
my_sql() { mariadb --protocol=tcp -h"$MY_HOST" -P"$MY_PORT" -uroot --connect-timeout=5 -N -B -e "$1"; }

ensure_mariadb() {
	if my_alive >/dev/null 2>&1; then
		log "MariaDB is running on $MY_HOST:$MY_PORT"
	else
		log "starting MariaDB"
		as_root mkdir -p /run/mysqld
		as_root chown mysql:mysql /run/mysqld
		as_root start-stop-daemon --start --oknodo --background \
			--output "$MARIADB_LOG" --exec /usr/sbin/mariadbd </dev/null ||
			log "start-stop-daemon failed; waiting anyway"
	fi
	wait_until "MariaDB (mariadb-admin ping on $MY_HOST:$MY_PORT)" my_alive ||
		die "MariaDB is not accepting connections on $MY_HOST:$MY_PORT (if this script started it, see $MARIADB_LOG)"

	# A fresh install lets root in over the unix socket only: give it an empty
	# password over TCP as well (keeping socket auth), for localhost and for
	# 127.0.0.1, which the server may not resolve to localhost.
	if ! my_sql 'SELECT 1' >/dev/null 2>&1; then
		log "allowing root with an empty password over TCP"
		as_root mariadb --protocol=socket -uroot -e "
			ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
			CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
			GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
			FLUSH PRIVILEGES;" ||
			die "cannot log in to MariaDB as root over TCP, nor over the unix socket to fix it"
	fi
	wait_until "MariaDB login as root over TCP (mariadb -h$MY_HOST -uroot -e 'select 1')" my_sql 'SELECT 1' ||
		die "cannot log in to MariaDB as root with an empty password on $MY_HOST:$MY_PORT"

	my_sql "CREATE DATABASE IF NOT EXISTS \`$TEST_DB\`"
	my_sql "SELECT 1" >/dev/null
}

# ---------------------------------------------------------------- PgBouncer

bouncer_ready() { psql -X -w -q -h "$PG_HOST" -p "$BOUNCER_PORT" -U "$PG_USER" -d "$TEST_DB" -tAc "SELECT 1" >/dev/null 2>&1; }

# ensure_pgbouncer runs PgBouncer in transaction pooling mode in front of the
# local PostgreSQL, with a configuration of its own (Debian's packaged one,
# and any service it started, are left alone). PgBouncer refuses to run as
# root, so it runs as postgres.
ensure_pgbouncer() {
	if bouncer_ready; then
		log "PgBouncer is running on $PG_HOST:$BOUNCER_PORT"
		return 0
	fi
	local bin home dir
	bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
	[[ -x $bin ]] || die "pgbouncer not found (set KIRAYEDAR_PGBOUNCER_DSN=off to skip the PgBouncer tests)"
	# In the postgres user's home, not in world-writable /tmp.
	home=$(getent passwd postgres | cut -d: -f6)
	[[ -n $home && -d $home ]] || die "the postgres user has no home directory for PgBouncer's files"
	dir=$home/kirayedar-pgbouncer
	BOUNCER_DIR=$dir
	as_root mkdir -p "$BOUNCER_DIR"
	# A pidfile left by a PgBouncer that is gone (its pid reused, say)
	# makes the new one refuse to start.
	local pid
	pid=$(as_root cat "$BOUNCER_DIR/pgbouncer.pid" 2>/dev/null || true)
	if [[ -n $pid ]] && ! grep -qs pgbouncer "/proc/$pid/cmdline"; then
		as_root rm -f "$BOUNCER_DIR/pgbouncer.pid"
	fi
	as_root tee "$BOUNCER_DIR/pgbouncer.ini" >/dev/null <<INI
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = $PG_HOST
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
pidfile = $BOUNCER_DIR/pgbouncer.pid
logfile = $BOUNCER_DIR/pgbouncer.log
INI
	echo "\"$PG_USER\" \"\"" | as_root tee "$BOUNCER_DIR/userlist.txt" >/dev/null
	as_root chown -R postgres "$BOUNCER_DIR"
	log "starting PgBouncer (transaction pooling) on $PG_HOST:$BOUNCER_PORT"
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$bin" -d "$BOUNCER_DIR/pgbouncer.ini" || log "pgbouncer -d failed; waiting anyway"
	else
		as_root -u postgres "$bin" -d "$BOUNCER_DIR/pgbouncer.ini" || log "pgbouncer -d failed; waiting anyway"
	fi
	wait_until "PgBouncer on $PG_HOST:$BOUNCER_PORT" bouncer_ready ||
		die "PgBouncer is not answering on $PG_HOST:$BOUNCER_PORT (see $BOUNCER_DIR/pgbouncer.log; KIRAYEDAR_PGBOUNCER_DSN=off skips its tests)"
}

# ---------------------------------------------------------------- main

manage_pg=0
manage_my=0
if [[ -z ${KIRAYEDAR_POSTGRES_DSN:-} ]]; then manage_pg=1; fi
if [[ -z ${KIRAYEDAR_MYSQL_DSN:-} ]]; then manage_my=1; fi
manage_bouncer=0
if [[ -z ${KIRAYEDAR_PGBOUNCER_DSN:-} && $manage_pg == 1 ]]; then manage_bouncer=1; fi

install_missing_servers
if [[ $manage_pg == 1 ]]; then
	ensure_postgres
else
	log "using KIRAYEDAR_POSTGRES_DSN as given"
fi
if [[ $manage_my == 1 ]]; then
	ensure_mariadb
else
	log "using KIRAYEDAR_MYSQL_DSN as given"
fi

if [[ $manage_bouncer == 1 ]]; then
	ensure_pgbouncer
	export KIRAYEDAR_PGBOUNCER_DSN="host=$PG_HOST port=$BOUNCER_PORT user=$PG_USER dbname=$TEST_DB sslmode=disable"
elif [[ -z ${KIRAYEDAR_PGBOUNCER_DSN:-} ]]; then
	export KIRAYEDAR_PGBOUNCER_DSN=off
fi
export KIRAYEDAR_POSTGRES_DSN="${KIRAYEDAR_POSTGRES_DSN:-$DEFAULT_POSTGRES_DSN}"
export KIRAYEDAR_MYSQL_DSN="${KIRAYEDAR_MYSQL_DSN:-$DEFAULT_MYSQL_DSN}"

command -v go >/dev/null 2>&1 || die "go not found in PATH"
cd "$ROOT"

# A test run that was killed leaves its databases behind (a normal run drops
# its own). Drop those of earlier runs, unless another run is going on.
drop_stale_test_databases() {
	if pgrep -f 'tests\.test' >/dev/null 2>&1; then
		log "another test run is active; leaving test databases alone"
		return 0
	fi
	local name
	if [[ $manage_pg == 1 ]]; then
		for name in $(pg_sql postgres "SELECT datname FROM pg_database WHERE datname ~ '^kt[a-z0-9]{6}(schema|prefix|session)(pgb)?(ps)?(b[0-9]+)?\$'"); do
			pg_sql postgres "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || true
		done
	fi
	if [[ $manage_my == 1 ]]; then
		for name in $(my_sql "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME REGEXP '^(kt[a-z0-9]{6}(schema|prefix|session)(ps)?(b[0-9]+)?|t[a-z0-9]{6}n[0-9]+([-_][a-z0-9_-]+)?)\$'"); do
			my_sql "DROP DATABASE IF EXISTS \`$name\`" >/dev/null || true
		done
	fi
}
drop_stale_test_databases

log "gofmt -l ."
unformatted=$(gofmt -l .)
[[ -z $unformatted ]] || die "not gofmt-ed: $unformatted"

log "go vet ./..."
go vet ./... || die "go vet failed"

log "go test -race -count=1 -timeout 40m ./... $*"
go test -race -count=1 -timeout 40m ./... "$@" || die "go test failed"

if [[ $# -eq 0 ]]; then
	log "examples/gin-app (its own module): go vet, go test -race"
	(cd examples/gin-app && go vet ./... && go test -race -count=1 ./...) || die "examples/gin-app failed"
fi

if [[ $# -eq 0 ]]; then
	log "a short fuzz run of the raw-SQL check (FuzzCheckRaw, 15s)"
	go test -run '^$' -fuzz FuzzCheckRaw -fuzztime 15s . || die "fuzzing found a failure (see testdata/fuzz)"
	log "a short fuzz run of the SQL reader (FuzzScan, 10s)"
	go test -run '^$' -fuzz FuzzScan -fuzztime 10s ./internal/sqlscan || die "fuzzing found a failure (see internal/sqlscan/testdata/fuzz)"
	log "a short differential fuzz run against PostgreSQL's EXPLAIN (FuzzScanOracle, 15s)"
	go test -run '^$' -fuzz FuzzScanOracle -fuzztime 15s ./tests || die "fuzzing found a statement the check passed and the database resolved to a forbidden table (see tests/testdata/fuzz)"
	log "a short fuzz run of host resolution (FuzzResolveHost, 10s)"
	go test -run '^$' -fuzz FuzzResolveHost -fuzztime 10s ./resolver || die "fuzzing found a failure (see resolver/testdata/fuzz)"
fi

if [[ $KIRAYEDAR_PGBOUNCER_DSN == off ]]; then
	log "the tests passed, but the PgBouncer targets did not run (KIRAYEDAR_PGBOUNCER_DSN=off): not all tests ran"
elif [[ $# -gt 0 ]]; then
	log "the selected tests passed ($*); the examples and the fuzz runs were not run"
else
	log "all tests passed"
fi
