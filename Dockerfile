# The sidecar image: both console scripts (stigg-sidecar, stigg-persistent-cache), non-root.
# Build: docker build -t stigg-sidecar-py .      Run: docker run -e SERVER_API_KEY=... -p 8443:8443 -p 8080:8080 stigg-sidecar-py
# The same steps run without Docker in CI: scripts/check_image_build.sh (see README).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 sidecar \
 && useradd --system --uid 10001 --gid sidecar --no-create-home --shell /usr/sbin/nologin sidecar \
 && mkdir -p /var/lib/stigg-sidecar/outbox && chown -R 10001:10001 /var/lib/stigg-sidecar
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=8443 \
    OUTBOX_DIR=/var/lib/stigg-sidecar/outbox \
    HTTP_PORT=8080
USER 10001:10001
EXPOSE 8443 8080
# PID 1 gets the signals: the sidecar installs its own SIGTERM/SIGINT handlers.
ENTRYPOINT ["stigg-sidecar"]
