"""The one options object of a build, and what a build reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from .payloads import PayloadRequest

PAPER_VIDEOS = 9537             # UCF101 split 1's training set: the paper's dataset size
DEFAULT_VIDEOS_PER_SHARD = 64   # 9,537 videos -> 150 shards: enough for 16 GPUs x 8 loader workers
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class BuildOptions:
    """Where and how to build. `videos`, `seed` and `per_shard` are the variants' (a pool carries its own
    item count and seed); `images`, `pool_urls` and `device` say where the variants' pools come from."""
    out: str                              # output root: a path or any fsspec URL
    videos: int = PAPER_VIDEOS            # videos per variant
    seed: int = 0                         # dataset seed of the variants
    per_shard: int = DEFAULT_VIDEOS_PER_SHARD
    workers: int | None = None            # local Ray runtime with N CPUs; caps the shards in flight
    ray_address: str | None = None        # join a running Ray cluster (else RAY_ADDRESS, else start one)
    inline: bool = False                  # render in this process, no Ray (tests, benchmarks, previews)
    overwrite: bool = False               # delete an earlier, different build of the same datasets first
    progress: bool = True                 # a progress bar on stderr
    max_retries: int = 2                  # Ray retries of a failed shard task
    storage_options: dict = field(default_factory=dict, repr=False)   # may hold credentials
    images: str | None = None             # natural images for image pools (default: bundled photographs)
    pool_urls: dict = field(default_factory=dict, repr=False)         # {kind: URL} of built pools to use
    device: str = "auto"                  # StyleGAN pool items: auto (cuda when the cluster has GPUs), cpu, cuda
    allow_skipped: bool = False           # finish although a source skipped items (named in the card); else fail

    payload: PayloadRequest = PayloadRequest()   # the variants' payload (pools are always lossless svf)


@dataclass
class BuildResult:
    """What a build did for one dataset (a variant or a pool)."""
    name: str
    url: str
    shards_built: int = 0
    shards_kept: int = 0
    failed: list = field(default_factory=list)     # (shard name, one-line reason)
    card: dict | None = None
    seconds: float = 0.0
