#!/bin/sh
# The api container's command: apply the migrations, then become gunicorn.
#
# As PID 1 a shell ignores SIGTERM unless it traps it, so a `docker stop` during the
# migrations used to wait 10 s and then kill. Here the migrations run as a child that
# a SIGTERM (or Ctrl-C) is passed on to at once; gunicorn then replaces the shell
# (exec) and handles signals itself.
set -u

python manage.py migrate --noinput &
migrate=$!
trap 'kill -TERM "$migrate" 2>/dev/null; wait "$migrate"; exit 143' TERM INT
wait "$migrate"
status=$?
trap - TERM INT
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
exec gunicorn -c gunicorn.conf.py orders_project.wsgi
