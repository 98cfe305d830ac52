# syntax=docker/dockerfile:1
# synthvid factory image: CPU only, Ray + the factory + s3fs. One image for the Ray head and every worker, so
# each node has identical software (byte-identical shards need identical versions; the build checks it).
#
#   docker build -f docker/factory.Dockerfile -t synthvid-factory:0.1.0 .
#   docker run --rm synthvid-factory:0.1.0 synthvid-factory list
#
# Credentials are never baked in: pass AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_ENDPOINT_URL at run
# time (env, Kubernetes secret) or use an instance / pod role.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

# libgomp1: OpenCV's parallel backend; tini: reaps Ray's child processes; ffmpeg: previews and exports only
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgomp1 tini ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/synthvid
# Dependencies first (cached layer), pinned by the same constraints file as `make install`.
COPY pyproject.toml constraints.txt README.md ./
COPY synthvid/ synthvid/
COPY manifests/ manifests/
COPY factory/ factory/
# package-dir maps synthvid.trainer to trainer/: setuptools needs the folder even in the CPU image
COPY trainer/ trainer/
RUN python -m pip install -c constraints.txt ".[factory,s3]" \
 && synthvid-factory list > /dev/null

# Ray's images run as uid 1000 "ray" with a writable home; KubeRay and the cluster launcher expect bash.
RUN useradd --create-home --uid 1000 --shell /bin/bash ray
USER ray
WORKDIR /home/ray

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["synthvid-factory", "--help"]
