# syntax=docker/dockerfile:1
# synthvid trainer image: CUDA PyTorch (the PyPI wheels bundle the CUDA runtime; the host needs an NVIDIA
# driver and the container toolkit), the trainer, and the factory's renderer so procedural:<variant> sources
# render on the fly. Multi-node launch: docker/torchrun_multinode.sh.
#
#   docker build -f docker/trainer.Dockerfile -t synthvid-trainer:0.1.0 .
#   docker run --gpus all --rm synthvid-trainer:0.1.0 python -m synthvid.trainer.cli --help
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgomp1 tini ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/synthvid
COPY pyproject.toml constraints.txt README.md ./
# torch + torchvision first and pinned, as in `make install` (timm needs these versions here)
RUN python -m pip install -c constraints.txt torch==2.14.1 torchvision==0.29.1
COPY synthvid/ synthvid/
COPY manifests/ manifests/
COPY factory/ factory/
COPY trainer/ trainer/
COPY docker/torchrun_multinode.sh /usr/local/bin/synthvid-torchrun-multinode
RUN python -m pip install -c constraints.txt ".[trainer,factory,s3]" \
 && python -m synthvid.trainer.cli --help > /dev/null \
 && synthvid-factory list > /dev/null

RUN useradd --create-home --uid 1000 --shell /bin/bash synthvid
USER synthvid
WORKDIR /home/synthvid

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "synthvid.trainer.cli", "--help"]
