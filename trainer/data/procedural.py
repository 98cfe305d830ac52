"""`procedural:<variant>`: videos rendered on the fly by the factory's renderer, found through the
`synthvid.sources` entry point group (the trainer never imports the factory). Variants that read pools
take them as {kind: URL} (`--procedural-pool KIND=URL`); the factory builds small ones for those not given."""

from __future__ import annotations

import numpy as np

from synthvid.manifests.seeds import epoch_seed

from .. import draws
from .errors import DataError, Stats


class Rendered:
    """Frames loader for a procedural video: the same `.num_frames`, `.height`, `.width` and
    `.frames(indices)` as FramesPayload."""

    def __init__(self, source, index: int):
        self.source, self.index = source, index
        self.num_frames = int(source.num_frames(index))
        self.height, self.width = int(source.height), int(source.width)

    def frames(self, indices) -> np.ndarray:
        return np.asarray(self.source.render(self.index, [int(i) for i in indices]), dtype=np.uint8)


def load_procedural_class():
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="synthvid.sources") if ep.name == "procedural"]
    if not eps:
        raise DataError("--data procedural:...: no 'procedural' entry point in group synthvid.sources; "
                        "install synthvid with the factory (pip install -e .[factory])")
    return eps[0].load()


class ProceduralStream:
    """Epoch e renders the variant as if built with epoch_seed(data_seed, e): fresh videos every epoch, as
    the authors' on-the-fly dataset; only the frames a clip samples are rendered."""

    finite = False

    def __init__(self, variant: str, epoch_size: int, params: dict | None = None, pools: dict | None = None,
                 storage_options: dict | None = None):
        self.variant = variant
        self.name = f"procedural:{variant}"
        self.num_samples = int(epoch_size)
        self.params = params
        self.storage_options = storage_options
        self._cls = load_procedural_class()
        self.pools = dict(pools or {})
        probe = self._source(0)
        # every pool the variant reads, given or built small by the factory (once, here): later sources
        # (each epoch, each loader worker) open exactly these
        self.pools = dict(getattr(probe, "pool_urls", None) or self.pools)
        self.height, self.width = int(probe.height), int(probe.width)

    def _source(self, seed: int):
        return self._cls(self.variant, seed, self.params, pools=self.pools, storage_options=self.storage_options)

    def source_for_epoch(self, seed: int, epoch: int):
        return self._source(epoch_seed(seed, epoch))

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[tuple[int, int]]:
        """Positions of the endless stream: pass p is video indices [p*N, (p+1)*N) in an order shuffled by
        (seed, epoch, p): fresh videos, never a repeat within an epoch. (index, pass)."""
        out = []
        n = self.num_samples
        pos = start
        while pos < start + count:
            pass_, offset = divmod(pos, n)
            take = min(n - offset, start + count - pos)
            order = draws.procedural_order(seed, epoch, pass_).permutation(n)[offset:offset + take] + pass_ * n
            out += [(int(i), pass_) for i in order]
            pos += take
        return out

    def read(self, refs, stats: Stats, seed: int = 0, epoch: int = 0):
        """(index, loader, pass) for each ref (`stats` is unused: rendering has nothing to skip)."""
        src = self.source_for_epoch(seed, epoch)
        for index, pass_ in refs:
            yield index, Rendered(src, index), pass_
