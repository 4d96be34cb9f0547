#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, from Debian's packages (installed when missing and
# run as root): `initdb` into a new directory under $TMPDIR with password (SCRAM)
# authentication for the user `driftwatch`, listening on 127.0.0.1:PORT only (its Unix socket
# stays in that directory). Prints the URL (without the password) and the directory, whose
# `password` file holds the password. `scripts/pg_down.sh DIR` stops it and removes DIR.
# fsync is off: the tests kill driftwatch, never this server. With PG_TLS=1 it also makes a
# throwaway CA (DIR/ca.crt) and a server certificate for 127.0.0.1 and localhost, turns TLS on
# and accepts TLS connections only (hostssl).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
port=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/driftwatch-pg.XXXXXX")
pg_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }
bin=$(pg_bin)
if [ -z "$bin" ]; then
  need_tools pg_ctlcluster:postgresql
  bin=$(pg_bin)
fi
[ -x "$bin/initdb" ] || { echo "pg_up: no initdb under /usr/lib/postgresql" >&2; exit 1; }
as=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root; Debian's package made the postgres user.
  as=(runuser -u postgres --)
  chown postgres "$dir"
fi
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
[ ${#as[@]} -eq 0 ] || chown postgres "$dir/password"
"${as[@]}" "$bin/initdb" -D "$dir/data" -A scram-sha-256 --pwfile="$dir/password" -U driftwatch \
  --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
tls_opts=""
if [ "${PG_TLS:-0}" = 1 ]; then
  need_tools openssl
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=driftwatch-test-ca \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
      'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
    chmod 600 server.key
    [ ${#as[@]} -eq 0 ] || chown postgres server.key server.crt
  )
  sed -i 's/^host /hostssl /' "$dir/data/pg_hba.conf"
  tls_opts="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
fi
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=50 $tls_opts" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://driftwatch@127.0.0.1:$port/postgres $dir"
