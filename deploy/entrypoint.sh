#!/usr/bin/env bash
# The portal's one entry point in a container, and the same script the suite runs on the host:
#   web [ARGS]     gunicorn serving opsportal.wsgi with DEBUG off; WhiteNoise serves the static files
#   worker [ARGS]  a Celery worker; run as many as bulk jobs need
#   beat [ARGS]    Celery beat: exactly one per deployment
#   init           migrate (the Ops groups come with it), ensure_topics, the admin login; safe to rerun
# ARGS go to gunicorn or celery as they are. PYTHON names the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Settings are read here first, so a bad value stops the container with one line, not a traceback
# from each gunicorn worker; web also refuses DEBUG and a missing collectstatic.
preflight() {
  "$PYTHON" - "$1" <<'PY'
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

try:
    from opsportal import settings
except ImproperlyConfigured as exc:
    sys.exit(f"error: {exc}")
if sys.argv[1] == "web":
    if settings.DEBUG:
        sys.exit("error: web serves production: set DEBUG=false (./dev up runs the development server)")
    if not Path(settings.STATIC_ROOT).is_dir():
        sys.exit(f"error: STATIC_ROOT={settings.STATIC_ROOT} does not exist: run manage.py collectstatic")
PY
}

web() {
  preflight web
  exec "$PYTHON" -m gunicorn opsportal.wsgi:application \
    --bind "${WEB_BIND:-0.0.0.0:8000}" \
    --workers "${GUNICORN_WORKERS:-2}" \
    --threads "${GUNICORN_THREADS:-4}" \
    --timeout "${GUNICORN_TIMEOUT:-60}" \
    --graceful-timeout 30 \
    --access-logfile - \
    "$@"
}

worker() {
  preflight worker
  exec "$PYTHON" -m celery -A opsportal worker --loglevel="${CELERY_LOG_LEVEL:-INFO}" \
    --concurrency="${CELERY_CONCURRENCY:-2}" "$@"
}

beat() {
  preflight beat
  # Schedules live in the database (DatabaseScheduler): no schedule or pid file to write.
  exec "$PYTHON" -m celery -A opsportal beat --loglevel="${CELERY_LOG_LEVEL:-INFO}" --pidfile= "$@"
}

init() {
  preflight init
  "$PYTHON" manage.py migrate --noinput
  "$PYTHON" manage.py ensure_topics
  [ -n "${OPSPORTAL_ADMIN_PASSWORD:-}" ] || { echo "init: OPSPORTAL_ADMIN_PASSWORD unset, no admin login made"; return 0; }
  # Made once: a password changed later in the admin is never reset by a rerun.
  "$PYTHON" manage.py shell -v 0 -c '
import os
from django.contrib.auth import get_user_model
name = os.environ.get("OPSPORTAL_ADMIN_USER") or "admin"
user, created = get_user_model().objects.get_or_create(
    username=name, defaults={"is_staff": True, "is_superuser": True})
if created:
    user.set_password(os.environ["OPSPORTAL_ADMIN_PASSWORD"])
    user.save()
print(f"init: admin login {name!r} " + ("created" if created else "already exists"))
'
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  web|worker|beat) "$command" "$@" ;;
  init) [ $# -eq 0 ] || die "init takes no arguments"; init ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
