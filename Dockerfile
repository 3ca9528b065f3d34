# syntax=docker/dockerfile:1
# scimgate: SCIM 2.0 service provider. Multi-stage build, runs as a non-root user.
#   docker build -t scimgate .
#   docker run -p 8000:8000 -e SCIMGATE_DATABASE_URL=postgresql://scimgate@db/scimgate \
#     -e SCIMGATE_PUBLIC_URL=https://scim.example.com -e SCIMGATE_SECRET_KEY=... scimgate
# See docs/deploy.md (TLS proxy in front, PostgreSQL, workers, migrations).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install scimgate and its pinned dependencies into a virtualenv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/scimgate
WORKDIR /src
# One install of scimgate and its dependencies, every version pinned by constraints.txt (pip
# included); any change to the source re-runs it. setuptools comes from the isolated build
# environment pyproject.toml asks for, not from the virtualenv.
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN /opt/scimgate/bin/pip install -c constraints.txt --upgrade pip \
 && /opt/scimgate/bin/pip install -c constraints.txt . \
 && /opt/scimgate/bin/python -c "import scimgate.asgi"

# ---- runtime: the virtualenv only, no compilers, no source tree ----
FROM ${PYTHON_IMAGE} AS runtime
# xmlsec1: pysaml2 runs it to check SAML signatures (single sign-on).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends xmlsec1 && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/scimgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SCIMGATE_HOST=0.0.0.0 \
    SCIMGATE_PORT=8000 \
    SCIMGATE_WORKERS=2 \
    SCIMGATE_DATABASE_URL=sqlite:////var/lib/scimgate/scimgate.db \
    PROMETHEUS_MULTIPROC_DIR=/tmp/scimgate-metrics
RUN groupadd --system --gid 10001 scimgate \
 && useradd --system --uid 10001 --gid scimgate --home-dir /var/lib/scimgate --shell /usr/sbin/nologin scimgate \
 && install -d -o scimgate -g scimgate -m 0750 /var/lib/scimgate
COPY --from=build /opt/scimgate /opt/scimgate
USER 10001:10001
WORKDIR /var/lib/scimgate
EXPOSE 8000
# Liveness only; orchestrators should use GET /readyz for readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('SCIMGATE_PORT', '8000')}/healthz\", timeout=4)"]
# uvicorn finishes in-flight requests on SIGTERM (up to 30 s, cli.serve); give it that long.
STOPSIGNAL SIGTERM
# The first start prints commands as "scimgate …" (on PATH here), e.g. docker exec <container>
# scimgate token create Default.
ENTRYPOINT ["scimgate"]
CMD ["serve"]
