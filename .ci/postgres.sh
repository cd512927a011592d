#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 for vigil's store tests.
#
#   .ci/postgres.sh start   # prints VIGIL_TEST_POSTGRES=postgres://…
#   .ci/postgres.sh stop
#
# start installs Debian's postgresql if its binaries are missing, runs initdb
# in a fresh temporary directory (as user postgres when run as root: initdb
# refuses root), starts the server on 127.0.0.1:$VIGIL_PG_PORT (default 5433)
# and writes the URL to $VIGIL_PG_STATE/url (default /tmp/vigil-postgres/url),
# so a CI step can `export VIGIL_TEST_POSTGRES=$(cat /tmp/vigil-postgres/url)`.
# The server is tuned for tests (no fsync): never point it at data you need.
# stop stops that server and removes its directory.
set -euo pipefail

port=${VIGIL_PG_PORT:-5433}
state=${VIGIL_PG_STATE:-/tmp/vigil-postgres}
version=${VIGIL_PG_VERSION:-15}

pg_bin() {
	local bin=/usr/lib/postgresql/$version/bin
	if [[ ! -x $bin/initdb ]]; then
		echo "postgres.sh: installing postgresql-$version" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$version" >&2
	fi
	echo "$bin"
}

# as_owner runs a command as the user owning the cluster.
as_owner() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	if [[ -f $state/dir ]]; then
		echo "postgres.sh: already started ($(cat "$state/dir")); run stop first" >&2
		exit 1
	fi
	local bin dir
	bin=$(pg_bin)
	dir=$(mktemp -d /tmp/vigil-pg.XXXXXX)
	mkdir -p "$dir/data" "$dir/sock"
	if [[ $(id -u) == 0 ]]; then
		chown -R postgres:postgres "$dir"
	fi
	as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -o \
		"-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/sock \
		 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
		 -c shared_buffers=${VIGIL_PG_SHARED_BUFFERS:-256MB} -c max_connections=200 ${VIGIL_PG_OPTS:-}" start >&2
	mkdir -p "$state"
	echo "$dir" >"$state/dir"
	local url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	echo "$url" >"$state/url"
	echo "VIGIL_TEST_POSTGRES=$url"
}

stop() {
	if [[ ! -f $state/dir ]]; then
		echo "postgres.sh: not started" >&2
		return 0
	fi
	local dir bin
	dir=$(cat "$state/dir")
	bin=/usr/lib/postgresql/$version/bin
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
	rm -rf "$dir" "$state"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
