"""Hostile and malformed payloads: one bounded decoder for every kind. Every bad input is a PayloadError,
inside a memory limit, and nothing else (no KeyError, TypeError, RecursionError, MemoryError)."""

import json
import struct
import subprocess
import sys

import numpy as np
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthvid.manifests.payload import (Limits, PayloadError, PayloadSpec, decode_ranges, encode_frames,
                                        open_payload, read_head)
from synthvid.manifests.payload.container import crc_block, pack


def _v2(header: dict, blocks: list[bytes], frames: int | None = None) -> bytes:
    """A v2 payload with valid checksums around whatever header and blocks a forger chose."""
    index, off = [], 0
    for b in blocks:
        index.append((off, len(b) + 4))
        off += len(b) + 4
    index = index * (frames or 1) if frames else index
    return pack(header, index, [crc_block(b) for b in blocks])


def _v1(header: dict, blocks: list[bytes], raw_header: bytes | None = None) -> bytes:
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    offsets = np.cumsum([0] + [len(b) for b in blocks])
    table = b"".join(struct.pack("<QI", int(o), len(b)) for o, b in zip(offsets, blocks))
    return b"SVF1" + struct.pack("<I", len(body)) + body + table + b"".join(blocks)


def _zstd_bomb(declared: int) -> bytes:
    """~16 KB of zstd that inflates to `declared` zero bytes (and says so in its frame header)."""
    cobj = zstandard.ZstdCompressor(level=3, write_content_size=True).compressobj(size=declared)
    chunk, parts = bytes(1 << 20), []
    for _ in range(declared >> 20):
        parts.append(cobj.compress(chunk))
    return b"".join(parts) + cobj.flush()


H64 = {"codec": "zstd", "level": -1, "height": 64, "width": 64, "channels": 3, "fps": 25.0}
HJ = {"codec": "jpeg", "quality": 90, "height": 64, "width": 64, "channels": 3, "fps": 25.0}


def hostile_payloads() -> dict[str, tuple[str, bytes]]:
    bomb = _zstd_bomb(512 << 20)
    good_jpeg = encode_frames(np.zeros((1, 64, 64, 3), np.uint8), fps=25, spec=PayloadSpec("svj"))
    jpeg_block = open_payload("svj", good_jpeg).encoded_frames([0])[0]
    progressive = jpeg_block.replace(b"\xff\xc0", b"\xff\xc2", 1)
    sof = jpeg_block.index(b"\xff\xc0")
    wide = jpeg_block[:sof + 7] + struct.pack(">H", 60000) + jpeg_block[sof + 9:]
    v1h = dict(H64, frames=1)
    cases = {
        "v2 zstd bomb (64x64 header, 512 MiB frame)": ("svf", _v2(H64, [bomb])),
        "v1 zstd bomb (64x64 header, 512 MiB frame)": ("svf", _v1(v1h, [bomb])),
        "v1 82-byte payload, huge dimensions": ("svf", _v1(dict(v1h, height=60000, width=60000), [b"x"])),
        "v2 huge frame count and dimensions": ("svf", _v2(dict(H64, height=4096, width=4096), [b"x"] * 40)),
        "v2 JPEG with huge declared width": ("svj", _v2(HJ, [wide])),
        "v2 progressive JPEG": ("svj", _v2(HJ, [progressive])),
        "header length beyond the data": ("svf", b"SVF2" + struct.pack("<III", 10 ** 6, 1, 0) + b"{}"),
        "v1 header length beyond the data": ("svf", b"SVF1" + struct.pack("<I", 4000) + b'{"codec":"zstd"}'),
        "v1 header missing keys": ("svf", _v1({"codec": "zstd", "frames": 1}, [b"x"])),
        "v1 frames is a string": ("svf", _v1(dict(v1h, frames="7"), [b"x"])),
        "v1 frames is null": ("svf", _v1(dict(v1h, frames=None), [b"x"])),
        "v1 height is a float": ("svf", _v1(dict(v1h, height=64.5), [b"x"])),
        "v1 header is a list": ("svf", _v1({}, [b"x"], raw_header=b"[1, 2, 3]")),
        "v1 deeply nested header": ("svf", _v1({}, [b"x"], raw_header=b"[" * 100000 + b"]" * 100000)),
        "v1 header not ascii": ("svf", _v1({}, [b"x"], raw_header=b'{"codec": "\xff"}')),
        "v1 fps is NaN": ("svf", _v1({}, [b"x"], raw_header=json.dumps(dict(v1h, fps=float("nan"))).encode())),
        "v1 zero frames": ("svf", _v1(dict(v1h, frames=0), [])),
        "v1 negative size": ("svf", _v1(dict(v1h, width=-64), [b"x"])),
        "v1 index past the end": ("svf", _v1(v1h, [b"x"])[:-1] + b""),
        "unknown codec": ("svf", _v2(dict(H64, codec="lzma"), [b"x"])),
        "extra header key": ("svf", _v2(dict(H64, evil=1), [b"x"])),
        "empty": ("svf", b""),
        "bad magic": ("svf", b"PK\x03\x04" + bytes(60)),
    }
    return cases


_RUN = """
import os, resource, sys, pickle
from synthvid.manifests.payload import PayloadError, open_payload
cases = pickle.load(open(sys.argv[1], "rb"))
import numpy, zstandard, simplejpeg      # imported before the limit: what is measured is the decode
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (384 << 20), resource.RLIM_INFINITY))
for name, (ext, data) in cases.items():
    try:
        open_payload(ext, data).frames()
        print(f"{name}: DECODED")
    except PayloadError as e:
        print(f"{name}: PayloadError: {e}")
"""


def test_bombs_and_malformed_payloads_fail_with_one_payload_error_inside_a_memory_limit(tmp_path):
    import pickle

    cases = hostile_payloads()
    path = tmp_path / "cases.pkl"
    path.write_bytes(pickle.dumps(cases))
    r = subprocess.run([sys.executable, "-c", _RUN, str(path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert len(lines) == len(cases), r.stdout
    for name, line in zip(cases, lines):
        assert line.startswith(f"{name}: PayloadError: "), line
    assert r.stdout.count("block declares 536870912 bytes, the header 12288") == 2     # refused, not tried


def _valid(kind: str) -> bytes:
    video = np.random.default_rng(3).integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
    video[:, 4:12] = 90
    return encode_frames(video, fps=25, spec=PayloadSpec(kind, quality=90))


VALID = {k: _valid(k) for k in ("svf", "svj")}
FRAMES = {k: open_payload(k, v).frames() for k, v in VALID.items()}
# Derandomised and without an example database: the same examples on every run and machine (CI included).
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
mutations = st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4)


def _read_all_ways(kind: str, data: bytes, indices=(2, 0)):
    """Whole read and range read; returns the frames when they decode (they must then be the originals)."""
    limits = Limits.for_row({"frames": 3, "height": 16, "width": 24})
    whole = open_payload(kind, data, limits).frames(list(indices))
    head = read_head(kind, lambda a, b: data[a:b], limits, probe=32)
    ranges = head.frame_ranges(list(indices), max_gap=8)
    return whole, decode_ranges(head, list(indices), ranges, [data[a:b] for a, b in ranges], limits)


@PROPERTY
@given(kind=st.sampled_from(["svf", "svj"]), flips=mutations, cut=st.integers(0, 10 ** 6))
def test_mutated_payloads_decode_exactly_or_raise_payload_error(kind, flips, cut):
    data = bytearray(VALID[kind])
    for pos, x in flips:
        data[pos % len(data)] ^= x
    data = bytes(data[:max(0, len(data) - cut % 64)]) if cut % 3 == 0 else bytes(data)
    try:
        got = _read_all_ways(kind, data)
    except PayloadError:
        return
    for frames in got:        # every byte is under a checksum: what decodes is the original
        assert np.array_equal(frames, FRAMES[kind][[2, 0]])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=12)
header_keys = st.sampled_from(["codec", "height", "width", "channels", "fps", "level", "quality", "frames"])


@PROPERTY
@given(kind=st.sampled_from(["svf", "svj"]), edits=st.dictionaries(header_keys, json_values, max_size=4),
       drop=st.lists(header_keys, max_size=2), raw=st.binary(max_size=64))
def test_hostile_headers_with_valid_checksums_raise_only_payload_error(kind, edits, drop, raw):
    real = read_head(kind, lambda a, b: VALID[kind][a:b])
    header = {**real.header, **edits}
    for k in drop:
        header.pop(k, None)
    blocks = [bytes(open_payload(kind, VALID[kind]).encoded_frames([0])[0]), raw or b"\x00"]
    try:
        data = _v2(header, blocks)
    except (ValueError, TypeError):       # not JSON-serialisable (NaN, ...): nothing a writer could produce
        return
    try:
        open_payload(kind, data).frames()
        head = read_head(kind, lambda a, b: data[a:b])
        decode_ranges(head, [0], head.frame_ranges([0]), [data[a:b] for a, b in head.frame_ranges([0])])
    except PayloadError:
        pass


@PROPERTY
@given(kind=st.sampled_from(["svf", "svj"]), magic=st.sampled_from([b"SVF1", b"SVF2", b""]),
       rest=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_payload_error(kind, magic, rest):
    data = magic + rest
    for fn in (lambda: open_payload(kind, data).frames(),
               lambda: read_head(kind, lambda a, b: data[a:b], probe=24)):
        try:
            fn()
        except PayloadError:
            pass


@settings(PROPERTY, max_examples=60)
@given(t=st.integers(1, 4), h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 2 ** 32 - 1),
       idx=st.lists(st.integers(0, 3), min_size=1, max_size=6), gap=st.integers(0, 4096))
def test_round_trips_and_range_reads_agree(t, h, w, seed, idx, gap):
    video = np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    idx = [i % t for i in idx]
    for kind in ("svf", "svj"):
        data = encode_frames(video, fps=30, spec=PayloadSpec(kind))
        whole = open_payload(kind, data).frames()
        if kind == "svf":
            assert np.array_equal(whole, video)
        head = read_head(kind, lambda a, b: data[a:b], probe=17)
        ranges = head.frame_ranges(idx, max_gap=gap)
        assert np.array_equal(decode_ranges(head, idx, ranges, [data[a:b] for a, b in ranges]), whole[idx])
