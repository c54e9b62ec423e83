# quality-monitor as a container: `docker build -t quality-monitor .`
#   docker run -e TELEGRAM_BOT_TOKEN=… -e TELEGRAM_CHAT=@channel -p 127.0.0.1:8080:8080 \
#              -v qm-data:/data -v ./sources.yaml:/config/sources.yaml:ro quality-monitor
# With PostgreSQL, and as several replicas: compose.yaml.
#
# Two stages. The build stage installs into a venv every runtime package from
# requirements.lock, each pinned with its hashes (`make lock` writes it from
# pyproject.toml; the `postgres` extra is in it, the test tools are not), so two
# builds install the same packages; then the project itself without dependencies,
# then `pip check`. `--no-deps` on the lock too: the lock names every package, and
# pip's hash mode would otherwise refuse a dependency that asks for an extra
# (justext wants `lxml[html_clean]`). These are the install commands of docs/operations.md.
# The final stage copies only that venv, runs as a non-root user in China time,
# keeps SQLite on the /data volume, reads /config/sources.yaml, serves the
# dashboard, /healthz and /metrics on port 8080, and stops cleanly on SIGTERM
# within 10 s.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
COPY notifiers ./notifiers
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
 && /opt/venv/bin/pip check

FROM python:3.11-slim
# The zone database, so that TZ below means what it says to every program in the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 monitor \
 && mkdir -p /data /config \
 && chown monitor:monitor /data /config
COPY --from=build /opt/venv /opt/venv
COPY sources.yaml /config/sources.yaml
# TZ: the container's clock reads China time, the zone of the sites watched and of
# the dashboard, digests and schedules (which say so themselves, whatever TZ is).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TZ=Asia/Shanghai \
    MONITOR_CONFIG=/config/sources.yaml \
    MONITOR_DB_URL=sqlite:////data/monitor.db \
    MONITOR_HTTP_HOST=0.0.0.0 \
    MONITOR_HTTP_PORT=8080
USER monitor
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# `run` handles SIGTERM: no new poll, polls in flight commit, the send in flight
# is finished and marked, the rest is handed back; it exits 0 within 10 s.
STOPSIGNAL SIGTERM
# Liveness: `health` asks the running process's /healthz (process and database answer).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["quality-monitor", "health"]
ENTRYPOINT ["quality-monitor"]
CMD ["run"]
