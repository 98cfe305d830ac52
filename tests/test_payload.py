"""Payload kinds (svf lossless, svj JPEG): round trips, deterministic bytes, checksummed heads (svf v2),
range reads, the extension registry, describe() and the `--payload auto` choice."""

import hashlib
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import zstandard

from synthvid.manifests.payload import (SVF, SVJ, FramesPayload, Limits, PayloadError, PayloadSpec, Targets,
                                        UnknownPayloadKind, choose_payload, decode_frames, decode_ranges,
                                        encode_frames, encoded_ranges, open_payload, payload_for_extension, psnr, read_head)


def smooth_video(n=8, size=64, seed=0):
    """Natural-ish content: blurred noise drifting over time (what JPEG is for)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(size * 2, size * 2, 3))
    k = np.ones(9) / 9
    for axis in (0, 1):
        base = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), axis, base)
    base = (base - base.min()) / np.ptp(base) * 255
    return np.stack([base[t:t + size, 2 * t:2 * t + size] for t in range(n)]).round().astype(np.uint8)


def flat_video(n=8, size=64, seed=0):
    """Dead-leaves-like content: solid rectangles with hard coloured edges (what lossless is for)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 3), np.uint8)
    for t in range(n):
        for _ in range(6):
            y, x = rng.integers(0, size - 8, 2)
            out[t, y:y + rng.integers(4, 32), x:x + rng.integers(4, 32)] = rng.integers(0, 256, 3)
    return out


SPECS = [PayloadSpec("svf"), PayloadSpec("svj", quality=95)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_round_trip_random_access_and_range_reads(spec):
    video = smooth_video()
    data = encode_frames(video, fps=25, spec=spec)
    p = open_payload(spec.kind, data)
    assert (p.num_frames, p.height, p.width, p.fps) == (8, 64, 64, 25.0)
    whole = p.frames()
    if spec.kind == "svf":
        assert np.array_equal(whole, video)
    else:
        assert min(psnr(a, b) for a, b in zip(whole, video)) >= 35      # the stated target
    idx = [6, 1, 1, 3]
    assert np.array_equal(p.frames(idx), whole[idx])
    reads = []
    head = read_head(spec.kind, lambda a, b: reads.append((a, b)) or data[a:b], probe=20, size=len(data))
    assert reads == [(0, 20), (20, head.size)]                         # a probe shorter than the head
    for gap in (0, 10 ** 6):
        ranges = head.frame_ranges(idx, max_gap=gap)
        # blocks are phase-major (t % 4): 0 4 1 5 2 6 3 7, so frames 6 and 3 are neighbours, 1 stands alone
        assert ranges == sorted(ranges) and len(ranges) == (2 if gap == 0 else 1)
        clip = decode_ranges(head, idx, ranges, [data[a:b] for a, b in ranges])
        assert np.array_equal(clip, whole[idx])
    with pytest.raises(IndexError):
        p.frame(8)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_a_stride_4_clip_is_one_byte_range(spec):
    """Phase-major blocks: 16 frames at stride 4 lie next to each other, so a clip is one read."""
    video = np.stack([np.roll(smooth_video(n=1)[0], 3 * t, axis=1) for t in range(70)])   # no two alike
    data = encode_frames(video, fps=25, spec=spec)
    head = read_head(spec.kind, lambda a, b: data[a:b])
    for start in (0, 3, 6):
        idx = list(range(start, start + 64, 4))
        [(a, b)] = head.frame_ranges(idx)
        assert b - a == sum(head.index[t][1] for t in idx)               # exactly its 16 blocks
        whole = open_payload(spec.kind, data).frames(idx)
        assert np.array_equal(decode_ranges(head, idx, [(a, b)], [data[a:b]]), whole)
    assert len(head.frame_ranges(range(0, 16))) == 4                    # stride 1: one range per phase
    flat = encode_frames(video, fps=25, spec=spec.with_(phases=1))
    assert len(read_head(spec.kind, lambda a, b: flat[a:b]).frame_ranges(range(0, 64, 4))) == 16


def test_range_reads_fetch_only_the_frames_asked_for():
    data = encode_frames(smooth_video(n=32), fps=25, spec=PayloadSpec("svj"))
    head = read_head("svj", lambda a, b: data[a:b])
    ranges = head.frame_ranges([0, 8, 16])
    assert sum(b - a for a, b in ranges) < (len(data) - head.size) / 8
    with pytest.raises(PayloadError, match="outside the byte ranges"):
        decode_ranges(head, [0, 9], ranges, [data[a:b] for a, b in ranges])
    with pytest.raises(PayloadError, match="truncated read"):
        decode_ranges(head, [0], ranges, [data[a:b - 1] for a, b in ranges])


def test_encoded_jpeg_frames_decode_the_same_with_torchvision():
    """The GPU path hands these bytes to torchvision.io.decode_jpeg(device='cuda'); on CPU it is the same
    libjpeg-turbo decode, so the frames must be identical."""
    from synthvid.trainer.data.device_decode import decode_jpegs   # torchvision's batched decode_jpeg

    p = open_payload("svj", encode_frames(smooth_video(), fps=25, spec=PayloadSpec("svj")))
    blobs = p.encoded_frames([2, 5])
    tv = decode_jpegs(blobs, "cpu")
    assert np.array_equal(np.stack([t.permute(1, 2, 0).numpy() for t in tv]), p.frames([2, 5]))
    data = encode_frames(smooth_video(), fps=25, spec=PayloadSpec("svj"))
    head = read_head("svj", lambda a, b: data[a:b])
    ranges = head.frame_ranges([5, 2])
    assert encoded_ranges(head, [2, 5], ranges, [data[a:b] for a, b in ranges]) == blobs


def test_repeated_frames_share_one_block_in_both_kinds():
    one = smooth_video(n=1)
    for spec in SPECS:
        single = encode_frames(one, fps=25, spec=spec)
        static = encode_frames(np.repeat(one, 50, axis=0), fps=25, spec=spec)
        assert len(static) - len(single) == 49 * 12          # one index entry per extra frame
        assert np.array_equal(open_payload(spec.kind, static).frames([49])[0],
                              open_payload(spec.kind, single).frames([0])[0])


_ENCODE = """
import hashlib, sys
import numpy as np
from synthvid.manifests.payload import PayloadSpec, encode_frames
video = np.random.default_rng(7).integers(0, 256, (4, 48, 40, 3), dtype=np.uint8)
video[:, 10:30] = 200
for spec in (PayloadSpec("svf"), PayloadSpec("svj", quality=90)):
    print(hashlib.sha256(encode_frames(video, fps=25, spec=spec)).hexdigest())
"""


def test_bytes_are_deterministic_within_and_across_processes():
    runs = [subprocess.run([sys.executable, "-c", _ENCODE], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    here = {}
    exec(_ENCODE.replace("print(", "here.setdefault('out', []).append("), {"here": here})
    assert runs[0] == runs[1] == "\n".join(here["out"]) + "\n"
    assert len(set(here["out"])) == 2


def _split_v2(data: bytes):
    _, hlen, frames, _ = struct.unpack_from("<4sIII", data)
    return hlen, frames, 16 + hlen


def _recrc(data: bytearray) -> bytes:
    """Recompute the head checksum, as a forger would; used to show what the checksum alone catches."""
    hlen, frames, h0 = _split_v2(bytes(data))
    head_end = h0 + 12 * frames
    struct.pack_into("<I", data, 12, zlib.crc32(bytes(data[16:head_end]), zlib.crc32(bytes(data[:12]))))
    return bytes(data)


def test_swapped_index_entries_are_refused():
    video = smooth_video(n=3)
    data = bytearray(encode_frames(video, fps=25))
    _, _, h0 = _split_v2(bytes(data))
    e0, e1 = bytes(data[h0:h0 + 12]), bytes(data[h0 + 12:h0 + 24])
    data[h0:h0 + 12], data[h0 + 12:h0 + 24] = e1, e0
    with pytest.raises(PayloadError, match="checksum"):
        FramesPayload(bytes(data)).frame(0)


def test_edited_fps_is_refused():
    data = encode_frames(smooth_video(n=2), fps=25, spec=PayloadSpec("svj"))
    assert data.count(b'"fps":25.0') == 1
    with pytest.raises(PayloadError, match="checksum"):
        open_payload("svj", data.replace(b'"fps":25.0', b'"fps":50.0'))


@pytest.mark.parametrize("kind", ["svf", "svj"])
def test_a_flipped_bit_in_any_block_is_refused(kind):
    data = encode_frames(smooth_video(n=3), fps=25, spec=PayloadSpec(kind))
    head = read_head(kind, lambda a, b: data[a:b])
    for start, length in head.index:
        for pos in (start, start + 4, start + length - 1):       # the CRC, the first and last coded byte
            broken = bytearray(data)
            broken[pos] ^= 0x10
            with pytest.raises(PayloadError):
                open_payload(kind, bytes(broken)).frames()


def _v1(video: np.ndarray, fps=25.0) -> bytes:
    """A version-1 payload as synthvid wrote it up to svf v2 (layout in container.py's docstring)."""
    cctx = zstandard.ZstdCompressor(level=-1, write_checksum=True, write_content_size=True)
    blocks = [cctx.compress(f.tobytes()) for f in video]
    t, h, w, c = video.shape
    header = json.dumps({"codec": "zstd", "level": -1, "frames": t, "height": h, "width": w, "channels": c,
                         "fps": fps}, sort_keys=True, separators=(",", ":")).encode()
    offsets = np.cumsum([0] + [len(b) for b in blocks])
    table = b"".join(struct.pack("<QI", int(o), len(b)) for o, b in zip(offsets, blocks))
    return b"SVF1" + struct.pack("<I", len(header)) + header + table + b"".join(blocks)


def test_version_1_payloads_are_still_read_whole_and_by_range():
    video = flat_video()
    data = _v1(video)
    assert np.array_equal(FramesPayload(data).frames(), video)
    assert np.array_equal(decode_frames(data, [3, 1]), video[[3, 1]])
    head = read_head("svf", lambda a, b: data[a:b], probe=12)
    assert head.version == 1
    ranges = head.frame_ranges([5])
    assert np.array_equal(decode_ranges(head, [5], ranges, [data[a:b] for a, b in ranges])[0], video[5])


def test_registry_dispatches_on_extension_and_refuses_mismatch():
    assert payload_for_extension("svf") is SVF
    assert payload_for_extension(".svj") is SVJ and payload_for_extension("00000001.svj") is SVJ
    with pytest.raises(UnknownPayloadKind, match="unknown payload kind 'mp4'.*svf, svj"):
        payload_for_extension("mp4")
    jpeg = encode_frames(smooth_video(n=1), fps=25, spec=PayloadSpec("svj"))
    with pytest.raises(PayloadError, match="svf member holding jpeg"):
        open_payload("svf", jpeg)
    with pytest.raises(PayloadError, match="svf member holding jpeg"):
        FramesPayload(jpeg)


def test_manifest_expectations_bound_the_reader():
    data = encode_frames(flat_video(n=4, size=32), fps=25)
    assert open_payload("svf", data, Limits.for_row({"frames": 4, "height": 32, "width": 32})).frames().shape \
        == (4, 32, 32, 3)
    for row in ({"frames": 5, "height": 32, "width": 32}, {"frames": 4, "height": 64, "width": 32}):
        with pytest.raises(PayloadError, match="the manifest says"):
            open_payload("svf", data, Limits.for_row(row))
    with pytest.raises(PayloadError, match="limit"):
        open_payload("svf", data, Limits(max_decoded_bytes=32 * 32 * 3 * 3)).frames()


def test_describe_is_json_and_round_trips_to_a_spec():
    for spec in SPECS:
        d = json.loads(json.dumps(spec.describe()))
        assert d["kind"] == d["member"] == spec.kind and d["format"] == "svf2"
        assert d["lossless"] is (spec.kind == "svf") and d["encoder_versions"]
        assert PayloadSpec.from_describe(d) == spec
    assert PayloadSpec("svj", quality=90).describe()["settings"]["quality"] == 90
    with pytest.raises(UnknownPayloadKind):
        PayloadSpec("gif")


def test_auto_choice_keeps_flat_content_lossless_and_picks_the_lowest_jpeg_quality_that_holds():
    flat = choose_payload([flat_video(size=128)])
    assert flat.spec.kind == "svf" and "lossless" in flat.reason
    targets = Targets(min_psnr_db=38.0, margin_db=1.0, budget_bytes=10 ** 15)
    smooth = choose_payload([smooth_video(n=8, size=128, seed=s) for s in (1, 2)], targets)
    assert smooth.spec.kind == "svj" and smooth.within_budget is True
    measured = [c for c in smooth.candidates if c["kind"] == "svj"]
    assert measured[-1]["quality"] == smooth.spec.quality and measured[-1]["psnr_db"] >= 39.0
    assert len(measured) > 1 and all(c["psnr_db"] < 39.0 for c in measured[:-1])   # the lowest that holds
    assert smooth.projected_bytes == int(measured[-1]["bytes_per_frame"] * 9537 * 150)
    tight = choose_payload([smooth_video(n=4, size=128)], Targets(budget_bytes=1))
    assert tight.within_budget is False
    assert json.loads(json.dumps(tight.to_dict()))["spec"]["kind"] == tight.spec.kind


def test_payload_sha_differs_between_kinds_but_frames_agree_within_target():
    video = smooth_video(n=4, size=96)
    a, b = (encode_frames(video, fps=25, spec=s) for s in SPECS)
    assert hashlib.sha256(a).digest() != hashlib.sha256(b).digest()
    assert psnr(open_payload("svj", b).frames(), open_payload("svf", a).frames()) >= 35


def test_jpeg_of_a_high_entropy_frame_encodes():
    """Pillow's optimize=True output buffer is W*H bytes below quality 95: a noisy 256 px frame needs ~2-3x
    that at q94 and used to fail with "broken data stream" (StyleGAN items made the factory hit it)."""
    frame = np.random.default_rng(0).integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    for q in (80, 94, 100):
        data = encode_frames(frame, fps=25, spec=PayloadSpec("svj", quality=q))
        assert data == encode_frames(frame, fps=25, spec=PayloadSpec("svj", quality=q))
        assert psnr(open_payload("svj", data).frames()[0], frame[0]) > (20 if q < 90 else 25)
