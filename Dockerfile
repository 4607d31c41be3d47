# The portal's image: web, worker, beat and init are commands of deploy/entrypoint.sh.

# Chart.js for the overview, vendored as `./dev up` does: devtools/vendor_static.py runs `npm pack` of
# the pinned version and checks its sha512. Node (with npm) comes from its official image, Python is
# the final stage's base, so the script runs unchanged.
FROM node:20-bookworm-slim AS node
FROM python:3.11-slim-bookworm AS vendor
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
COPY devtools/vendor_static.py devtools/
RUN python devtools/vendor_static.py --force

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only the runtime part of requirements.txt (everything above "# Tests and lint"), pinned there.
COPY requirements.txt .
RUN sed '/^# Tests and lint/,$d' requirements.txt > /tmp/runtime-requirements.txt \
    && pip install -r /tmp/runtime-requirements.txt \
    && rm /tmp/runtime-requirements.txt

COPY . .
COPY --from=vendor /app/overview/static/overview/vendor/ overview/static/overview/vendor/

# Static files are collected at build; the key only lets settings load, no secret is kept.
RUN SECRET_KEY=collectstatic-only DEBUG=false STATIC_ROOT=/app/static \
        python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --no-create-home --home-dir /app opsportal

ENV STATIC_ROOT=/app/static DEBUG=false
USER opsportal
EXPOSE 8000
ENTRYPOINT ["deploy/entrypoint.sh"]
CMD ["web"]
