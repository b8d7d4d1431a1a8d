# The followup daemon as a container image.
#
#   docker build -t followup .
#
# BASE is any Debian-like image with Python 3.11 (python3 -m venv must work);
# both stages use it, so the virtual environment built in the first one runs
# unchanged in the second. Offline machines build their own base image and
# pass --build-arg BASE=... (see .ci/docker-test).
ARG BASE=python:3.11-slim

# --- build: install the package and its dependencies into /opt/venv --------
FROM ${BASE} AS build
WORKDIR /src
# .dockerignore keeps local secrets (config/followup.toml), databases, venvs
# and tests out of this copy.
COPY . .
# Babel's data for the languages followup writes in (settings.LANGUAGES) is
# kept, the other ~1,100 locales (33 MB) are not; BABEL_LOCALES="" keeps all.
ARG BABEL_LOCALES="en es"
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check '.[postgres]' \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && if [ -n "$BABEL_LOCALES" ]; then \
      for f in /opt/venv/lib/python3*/site-packages/babel/locale-data/*.dat; do \
        name=${f##*/}; keep=; \
        for l in root $BABEL_LOCALES; do case "$name" in "$l.dat"|"$l"_*) keep=1;; esac; done; \
        [ -n "$keep" ] || rm "$f"; \
      done; \
    fi \
 && mkdir -p /app \
 && cp -r templates config docker-entrypoint.sh /app/

# --- runtime: the virtual environment, the bundled data, a non-root user ----
FROM ${BASE}
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin followup \
 && install -d -o followup -g followup -m 0750 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# FOLLOWUP_HOME: where the templates and the bundled config (policies, demo
# data) are read from. The SQLite database, the Maildir (used when no SMTP
# host is set) and the generated signing key live in the /data volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FOLLOWUP_HOME=/app \
    FOLLOWUP_DATABASE_URL=sqlite:////data/followup.db \
    FOLLOWUP_MAIL__MAILDIR=/data/maildir \
    FOLLOWUP_SIGNING_KEY_PATH=/data/signing.key \
    FOLLOWUP_WEB__ARCHIVE_DIR=/data/archive
USER followup
VOLUME ["/data"]
# `followup check` loads everything (configuration, schema, policies, all
# templates): a few seconds of CPU, hence the generous interval and timeout.
# The web pages, when enabled with FOLLOWUP_WEB__ENABLED=true and FOLLOWUP_WEB__HOST=0.0.0.0.
EXPOSE 8080
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 CMD ["followup", "check"]
# `docker stop` sends SIGTERM to PID 1, which is the daemon itself (the entry
# script execs it): it finishes in-flight work, releases its claims, exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["run"]
