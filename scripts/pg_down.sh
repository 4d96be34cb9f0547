#!/usr/bin/env bash
# Stop the PostgreSQL server scripts/pg_up.sh started in DIR (immediately: it is thrown away)
# and remove DIR.
dir=$1
case "$dir" in */driftwatch-pg.*) ;; *) echo "pg_down: $dir is not a pg_up.sh directory" >&2; exit 1 ;; esac
bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
if [ -n "$bin" ] && [ -d "$dir/data" ]; then
  as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$dir"
