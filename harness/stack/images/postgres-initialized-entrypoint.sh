#!/bin/bash
# Entry point of hsi-chaos's PostgreSQL image with a ready cluster (postgres-initialized):
# initdb ran when the image was built, so a container start only creates the login and the
# database the official image's variables ask for (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB) in single-user mode, then starts the server. The cluster's bootstrap superuser
# is `postgres`; POSTGRES_USER becomes a second superuser (or `postgres` gets the password).
# A TCP login works only once the final server runs (the single-user step has no listener).
set -euo pipefail
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-postgres}" != "postgres" ]; then
  exec "$@"
fi
shift || true

sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

if [ ! -e "$PGDATA/hsi-login-created" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD must be set (hsi-chaos postgres image)" >&2
    exit 1
  fi
  case "$POSTGRES_USER$POSTGRES_PASSWORD$POSTGRES_DB" in
    *$'\n'*) echo "error: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB must be one line each" >&2; exit 1 ;;
  esac
  mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
  # Single-user mode reads one statement per line.
  out=$({
    if [ "$POSTGRES_USER" = postgres ]; then
      echo "ALTER ROLE postgres PASSWORD $(sql_literal "$POSTGRES_PASSWORD")"
    else
      echo "CREATE ROLE $(sql_ident "$POSTGRES_USER") SUPERUSER LOGIN PASSWORD $(sql_literal "$POSTGRES_PASSWORD")"
    fi
    if [ "$POSTGRES_DB" != postgres ]; then
      echo "CREATE DATABASE $(sql_ident "$POSTGRES_DB") OWNER $(sql_ident "$POSTGRES_USER")"
    fi
  } | runuser -u postgres -- postgres --single -D "$PGDATA" -c fsync=off postgres 2>&1)
  if grep -q 'ERROR' <<<"$out"; then
    echo "error: creating the login and database failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  touch "$PGDATA/hsi-login-created"
  echo "PostgreSQL init process complete; ready for start up."
fi

exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*' "$@"
