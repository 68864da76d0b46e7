# syntax=docker/dockerfile:1
# The Sealpost image: web (gunicorn, the default command), worker and beat (celery) and the
# one-shot migrate job all run from it. See docs/deploy.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A fixed uid/gid so secret files mounted from the host can be chowned to it (docs/deploy.md).
# A real home directory: gunicorn keeps its control socket in ~/.gunicorn.
RUN groupadd --system --gid 10001 sealpost \
    && useradd --system --uid 10001 --gid sealpost --home-dir /home/sealpost --create-home \
        --shell /usr/sbin/nologin sealpost

WORKDIR /app

# The code stays owned by root: the application user can read it but not change it.
COPY . /app
# The pip cache lives in a BuildKit cache mount, so rebuilds after a code change are quick and the
# cache never ends up in the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv "$VIRTUAL_ENV" \
    && pip install . \
    && rm -rf /app/build /app/*.egg-info \
    && python -m compileall -q /app

# The source tree in /app is the one that runs (manage.py, gunicorn and celery all start here),
# whatever `pip install .` also copied into site-packages.
ENV PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=sealpost.settings \
    SEALPOST_VAR_DIR=/var/lib/sealpost

# Static files are collected with the production storage (hashed names + staticfiles.json);
# without the manifest, production's CompressedManifestStaticFilesStorage cannot resolve
# {% static %}. The key, host and var dir below exist only for this command: nothing here is a
# real secret and none of it is kept in the image's environment.
RUN SEALPOST_PRODUCTION=true \
    SECRET_KEY=collectstatic-build-only \
    ALLOWED_HOSTS=localhost \
    SEALPOST_VAR_DIR=/tmp/sealpost-build \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/sealpost-build

# The only place the application writes to disk: the celery beat schedule, the worker's audit
# checkpoint log, and the SQLite database, broker and key files of the embedded default when the
# image runs unconfigured. docker-compose.yml mounts a volume here for beat and one for the worker.
RUN install -d -o sealpost -g sealpost -m 0700 /var/lib/sealpost

USER sealpost:sealpost
EXPOSE 8000

# Worker count comes from WEB_CONCURRENCY (gunicorn reads it); other gunicorn flags can be added
# with GUNICORN_CMD_ARGS. No gunicorn access log: the TLS proxy in front keeps one.
CMD ["gunicorn", "sealpost.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm"]
