# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with its dependencies, then a slim runtime as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY followup ./followup
# The wheel carries these as package data (pyproject.toml, force-include).
COPY templates ./templates
COPY config ./config
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin followup \
 && mkdir -p /data && chown followup /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
# Editable copies of the templates, the default reminder policy and the demo
# data; FOLLOWUP_HOME makes the package read these instead of its own.
COPY templates ./templates
COPY config ./config
ENV FOLLOWUP_HOME=/app \
    FOLLOWUP_DATABASE_URL=sqlite:////data/followup.db \
    FOLLOWUP_MAIL__MAILDIR=/data/maildir \
    FOLLOWUP_SIGNING_KEY_PATH=/data/signing.key \
    FOLLOWUP_WEB__ARCHIVE_DIR=/data/archive \
    PYTHONUNBUFFERED=1
USER followup
VOLUME ["/data"]
# The web pages, when enabled with FOLLOWUP_WEB__ENABLED=true and FOLLOWUP_WEB__HOST=0.0.0.0.
EXPOSE 8080
HEALTHCHECK --interval=60s --timeout=10s --start-period=20s --retries=3 CMD ["followup", "check"]
# Migrate (idempotent), then run the daemon in the foreground.
CMD ["sh", "-c", "followup init && followup run"]
