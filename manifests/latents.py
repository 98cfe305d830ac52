"""The latents member of a sample: every object's latent draws, so a sample can be explained.

Written as `<key>.latents.npz`: `numpy.savez` of one plain array per field (radius, x0, colour, ...; row i
is object i). Every webdataset reader handles it: Hugging Face `datasets` turns it into a dict of lists,
`webdataset` and `numpy.load` into arrays. Schema version 1 stored one structured array
(`<key>.latents.npy`), which `datasets` cannot convert (ArrowNotImplementedError: numpy type 20); it is
still read here. The bytes are deterministic: `np.savez` writes zip entries with a fixed 1980 timestamp.
"""

from __future__ import annotations

import io

import numpy as np

from . import layout


def encode_latents(records: np.ndarray) -> bytes:
    """A structured array (one row per object) as `.latents.npz` bytes, one array per field, in field order."""
    if records.dtype.names is None:
        raise ValueError("latents must be a structured array (one field per latent)")
    buf = io.BytesIO()
    np.savez(buf, **{name: np.ascontiguousarray(records[name]) for name in records.dtype.names})
    return buf.getvalue()


def decode_latents(data: bytes, ext: str = layout.LATENTS_EXT) -> dict[str, np.ndarray]:
    """{field: array} from a latents member of either schema version (`ext` names which); never unpickles."""
    if ext == layout.LATENTS_V1_EXT:
        records = np.load(io.BytesIO(data), allow_pickle=False)
        return {name: records[name] for name in records.dtype.names}
    if ext != layout.LATENTS_EXT:
        raise ValueError(f"not a latents member: .{ext}")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
