#!/bin/sh
# The api container's command: the release steps, then become gunicorn.
#
# Release steps: behind a transaction pooler (DB_TRANSACTION_POOLING=true) the database
# limits are written as the role's defaults first (`manage.py apply_db_limits`), then
# the migrations run. Both go to RELEASE_DATABASE_URL when it is set (straight to
# PostgreSQL, so that PgBouncer opens no server connection before the limits exist),
# else to DATABASE_URL.
#
# As PID 1 a shell ignores SIGTERM unless it traps it, so a `docker stop` during the
# migrations used to wait 10 s and then kill. Here each step runs as a child that a
# SIGTERM (or Ctrl-C) is passed on to at once; gunicorn then replaces the shell (exec)
# and handles signals itself.
set -u

release_step() {
    DATABASE_URL="${RELEASE_DATABASE_URL:-$DATABASE_URL}" python manage.py "$@" &
    step=$!
    trap 'kill -TERM "$step" 2>/dev/null; wait "$step"; exit 143' TERM INT
    wait "$step"
    status=$?
    trap - TERM INT
    if [ "$status" -ne 0 ]; then
        exit "$status"
    fi
}

case "${DB_TRANSACTION_POOLING:-false}" in
    true | True | TRUE | 1 | yes | on) release_step apply_db_limits ;;
esac
release_step migrate --noinput
exec gunicorn -c gunicorn.conf.py orders_project.wsgi
