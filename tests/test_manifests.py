"""The shared contract: the frames payload and the Parquet manifests."""

import numpy as np
import pytest

from synthvid.manifests import layout
from synthvid.manifests.payload import FramesPayload, PayloadError, decode_frames, encode_frames
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, parquet_bytes_to_table, rows_to_parquet_bytes


def frames(n=6, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_payload_roundtrip_and_random_access():
    f = frames()
    data = encode_frames(f, fps=25)
    p = FramesPayload(data)
    assert (p.num_frames, p.height, p.width, p.fps) == (6, 32, 32, 25.0)
    assert np.array_equal(p.frames(), f)
    assert np.array_equal(p.frames([5, 0, 5]), f[[5, 0, 5]])
    assert encode_frames(f, fps=25) == data            # deterministic bytes
    with pytest.raises(IndexError):
        p.frame(6)


def test_repeated_frames_share_one_block():
    one = frames(1)
    static = encode_frames(np.repeat(one, 100, axis=0), fps=25)
    single = encode_frames(one, fps=25)
    assert len(static) < len(single) + 100 * 12 + 64     # only the index grows
    assert np.array_equal(decode_frames(static, [99])[0], one[0])


@pytest.mark.parametrize("cut", [3, 40, -10])
def test_truncated_or_corrupt_payload_is_named(cut):
    data = encode_frames(frames(), fps=25)
    with pytest.raises(PayloadError):
        FramesPayload(data[:cut]).frames()
    broken = bytearray(data)
    broken[-50] ^= 0xFF
    with pytest.raises(PayloadError):
        FramesPayload(bytes(broken)).frames()


def test_parquet_bytes_are_deterministic_and_sorted():
    rows = [{"name": f"v-{i:06d}.tar", "count": i, "bytes": 100 * i, "sha256": "ab" * 32} for i in (3, 1, 2)]
    a = rows_to_parquet_bytes(rows, SHARD_SCHEMA, "name")
    b = rows_to_parquet_bytes(list(reversed(rows)), SHARD_SCHEMA, "name")
    assert a == b
    table = parquet_bytes_to_table(a)
    assert table.column("name").to_pylist() == ["v-000001.tar", "v-000002.tar", "v-000003.tar"]
    assert table.schema.metadata[b"synthvid.schema_version"] == str(layout.SCHEMA_VERSION).encode() == b"2"
    sample = {"key": "00000000", "shard": "v-000000.tar", "members": ["00000000.svf"], "seed": 0, "index": 0,
              "frames": 10, "height": 8, "width": 8, "fps": 25.0, "payload_kind": "svf", "payload_sha256": "0" * 64,
              "frames_hash": "xxh3_128:" + "0" * 32}
    t = parquet_bytes_to_table(rows_to_parquet_bytes([sample], SAMPLE_SCHEMA, "key"))
    assert t.column("label").to_pylist() == [None]
