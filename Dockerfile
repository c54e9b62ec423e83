# quality-monitor as a container: `docker build -t quality-monitor .`
#   docker run -e TELEGRAM_BOT_TOKEN=… -e TELEGRAM_CHAT=@channel \
#              -v qm-data:/data -v ./sources.yaml:/config/sources.yaml quality-monitor
#
# Installs with the same command as the README (`pip install .` from the pinned
# pyproject.toml), runs as a non-root user, keeps SQLite on the /data volume.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
COPY notifiers ./notifiers
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --create-home --uid 10001 monitor \
 && mkdir -p /data /config \
 && chown monitor:monitor /data /config
COPY --from=build /opt/venv /opt/venv
COPY sources.yaml /config/sources.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MONITOR_CONFIG=/config/sources.yaml \
    MONITOR_DB_URL=sqlite:////data/monitor.db
USER monitor
WORKDIR /data
VOLUME ["/data"]
STOPSIGNAL SIGTERM
# Liveness: the configuration loads and the database answers.
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
  CMD ["quality-monitor", "health"]
ENTRYPOINT ["quality-monitor"]
CMD ["run"]
