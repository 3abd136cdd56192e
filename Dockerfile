# Orders API image.
#   docker build -t orders-api .                 # runtime image (default: last stage)
#   docker build --target test -t orders-api:test .
# Runtime configuration comes from the environment (DATABASE_URL is required;
# see the README); gunicorn reads HOST/PORT/WEB_CONCURRENCY via gunicorn.conf.py.

FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app
COPY requirements.txt ./
RUN pip install -r requirements.txt

# --- test: the suite, run against a real PostgreSQL (see docker-compose.yml) ----
FROM base AS test
COPY requirements-dev.txt ./
RUN pip install -r requirements-dev.txt
# owned by app, /app itself included (WORKDIR made it root's): pytest writes its cache
# and test-artifacts/ there
RUN chown app:app /app
COPY --chown=app:app . .
USER app
CMD ["python", "-m", "pytest"]

# --- runtime (default) -------------------------------------------------------
FROM base AS runtime
ENV HOST=0.0.0.0 \
    PORT=8000 \
    WHITENOISE_USE_FINDERS=false
# Code stays root-owned and read-only for the app user.
COPY . .
# Settings need a DATABASE_URL and a real-looking secret key to import; collectstatic
# never connects to the one nor signs with the other. The image carries no key: the
# container is given DJANGO_SECRET_KEY at run time.
RUN DJANGO_SECRET_KEY=build-only-key-for-collectstatic-never-used-to-serve-0123456789 \
    DATABASE_URL=postgres://build@127.0.0.1:5432/build \
    python manage.py collectstatic --noinput
# Where gunicorn's unix socket goes when HAProxy sits in front (docker-compose.yml).
RUN install -d -o app -g app /run/orders
USER app
EXPOSE 8000
# Asks gunicorn wherever gunicorn.conf.py binds it (PORT, or GUNICORN_BIND's socket).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "deploy/docker/healthcheck.py"]
# Migrations run on start, then gunicorn replaces the shell; a stop during the
# migrations stops them at once. With several replicas, run them once as a release
# step instead (docker compose run --rm api python manage.py migrate).
CMD ["sh", "deploy/docker/start-api.sh"]
