"""The official split layouts of UCF101 and HMDB51, parsed into one deterministic list of labelled videos.

UCF101: class folders of .avi files; `ucfTrainTestlist/` holds classInd.txt ("1 ApplyEyeMakeup", 1-based),
trainlist0N.txt ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1") and testlist0N.txt (path only), N = 1..3.
HMDB51: class folders; `testTrainMulti_7030_splits/<class>_test_split<N>.txt` with lines "<video>.avi <flag>",
flag 1 = train, 2 = test, 0 = in neither set. HMDB51 ships no class index, so labels are the positions of
the class names in sorted order (what torchvision's HMDB51 loader uses).

Anything that does not fit the layout is a SplitError naming the file (and line): a malformed line, a class
that classInd.txt does not define, a label that disagrees with classInd.txt, a listed video that is not on
disk, an empty class folder, a video listed twice. Videos that are deliberately left out (HMDB51 flag 0,
files on disk that no list names) are not errors: the table names and counts them.

Both folders may be local paths or any fsspec URL (`SplitOptions.storage_options`); a folder is listed
once, two levels deep.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from synthvid.manifests.storage import join, url_to_fs

SPLIT_NUMBERS = (1, 2, 3)
TRAIN, TEST = "train", "test"


class SplitError(ValueError):
    """A split file or dataset folder that does not match its official layout."""


@dataclass(frozen=True)
class VideoEntry:
    path: str           # relative to the dataset root, '/'-separated: "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    label: int          # 0-based index into SplitTable.classes
    class_name: str
    split: str          # TRAIN or TEST


@dataclass(frozen=True)
class SplitOptions:
    split: int = 1
    extensions: tuple[str, ...] = (".avi",)
    # A listed video that is not on disk: "error" (the default: an official copy has every file), or "skip"
    # (named and counted in SplitTable.missing), for a partial copy.
    on_missing: str = "error"
    storage_options: dict = field(default_factory=dict, repr=False, compare=False)   # for fsspec URLs

    def __post_init__(self):
        if self.split not in SPLIT_NUMBERS:
            raise SplitError(f"split {self.split}: the official layouts have splits {SPLIT_NUMBERS}")
        if self.on_missing not in ("error", "skip"):
            raise SplitError(f"on_missing {self.on_missing!r}: use 'error' or 'skip'")


@dataclass(frozen=True)
class SplitTable:
    dataset: str
    split: int
    classes: tuple[str, ...]
    entries: tuple[VideoEntry, ...]                     # sorted by (split, path)
    unused: tuple[str, ...] = ()                        # listed in neither set (HMDB51 flag 0)
    unlisted: tuple[str, ...] = ()                      # on disk, named by no list of this split
    missing: tuple[str, ...] = field(default=())        # listed but not on disk (on_missing="skip" only)

    def of(self, split: str) -> list[VideoEntry]:
        return [e for e in self.entries if e.split == split]

    def counts(self) -> dict[str, int]:
        return {"classes": len(self.classes), TRAIN: len(self.of(TRAIN)), TEST: len(self.of(TEST)),
                "unused": len(self.unused), "unlisted": len(self.unlisted), "missing": len(self.missing)}


# ----------------------------------------------------------------------------------------------------------
# Shared pieces.

def _lines(path: str, options: SplitOptions) -> list[tuple[int, list[str]]]:
    """(1-based line number, whitespace-split fields) of every non-blank line. The official lists have CRLF
    line ends and trailing spaces; both are whitespace here."""
    fs, where = url_to_fs(path, options.storage_options)
    try:
        text = fs.cat_file(where).decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise SplitError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise SplitError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _listing(folder: str, options: SplitOptions, depth: int) -> dict[str, str]:
    """'relative/path' -> 'directory' | 'file' of everything `depth` levels deep under `folder`, hidden
    entries left out."""
    fs, path = url_to_fs(folder, options.storage_options)
    if not fs.isdir(path):
        raise SplitError(f"{folder}: not a folder")
    base = path.rstrip("/") + "/"
    found = {}
    for full, info in fs.find(path, maxdepth=depth, withdirs=True, detail=True).items():
        rel = full[len(base):] if full.startswith(base) else ""
        if rel and not any(part.startswith(".") for part in rel.split("/")):
            found[rel] = info.get("type", "file")
    return found


def _class_folders(root: str, options: SplitOptions) -> dict[str, set[str]]:
    """Class folder -> video file names in it. Hidden entries are ignored; an empty class folder is an error."""
    extensions = options.extensions
    listing = _listing(root, options, depth=2)
    folders: dict[str, set[str]] = {rel: set() for rel, kind in listing.items() if "/" not in rel and kind == "directory"}
    for rel, kind in listing.items():
        folder, _, name = rel.partition("/")
        if name and kind != "directory" and folder in folders and name.lower().endswith(extensions):
            folders[folder].add(name)
    for name, videos in sorted(folders.items()):
        if not videos:
            raise SplitError(f"{join(root, name)}: class folder holds no {'/'.join(extensions)} video")
    if not folders:
        raise SplitError(f"{root}: no class folders")
    return dict(sorted(folders.items()))


def _check_folders(folders: dict[str, set[str]], classes: list[str], where: str) -> None:
    for name in folders:
        if name not in classes:
            raise SplitError(f"{where}: the dataset has a class folder {name!r} that is not a class here")
    for name in classes:
        if name not in folders:
            raise SplitError(f"{where}: class {name!r} has no folder in the dataset")


class _Collector:
    """Adds entries while checking for duplicates and missing files; remembers where each came from."""

    def __init__(self, folders: dict[str, set[str]], options: SplitOptions):
        self.folders, self.options = folders, options
        self.seen: dict[str, str] = {}
        self.entries: list[VideoEntry] = []
        self.unused: list[str] = []
        self.missing: list[str] = []

    def add(self, path: str, class_name: str, label: int, split: str | None, where: str) -> None:
        if path in self.seen:
            raise SplitError(f"{where}: {path} is listed twice (first at {self.seen[path]})")
        self.seen[path] = where
        if posixpath.basename(path) not in self.folders[class_name]:
            if self.options.on_missing == "error":
                raise SplitError(f"{where}: {path} is not in the dataset folder")
            self.missing.append(path)
            return
        if split is None:
            self.unused.append(path)
        else:
            self.entries.append(VideoEntry(path, label, class_name, split))

    def table(self, dataset: str, classes: list[str]) -> SplitTable:
        listed = set(self.seen)
        on_disk = sorted(f"{c}/{v}" for c, videos in self.folders.items() for v in videos)
        return SplitTable(dataset=dataset, split=self.options.split, classes=tuple(classes),
                          entries=tuple(sorted(self.entries, key=lambda e: (e.split != TRAIN, e.path))),
                          unused=tuple(sorted(self.unused)), unlisted=tuple(p for p in on_disk if p not in listed),
                          missing=tuple(sorted(self.missing)))


def _video_path(text: str, extensions: tuple[str, ...], where: str) -> tuple[str, str]:
    """(class folder, path) of a UCF101 list path "Class/file.avi"; rejects anything that could leave the
    dataset folder."""
    parts = text.replace("\\", "/").split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") for p in parts) or not parts[1].lower().endswith(extensions):
        raise SplitError(f"{where}: {text!r} is not a '<class>/<video>{extensions[0]}' path")
    return parts[0], "/".join(parts)


# ----------------------------------------------------------------------------------------------------------
# UCF101.

def parse_class_index(path: str, options: SplitOptions = SplitOptions()) -> list[str]:
    """classInd.txt -> class names in label order (line "1 ApplyEyeMakeup" is label 0)."""
    rows = _lines(path, options)
    by_index: dict[int, tuple[str, int]] = {}
    for n, fields in rows:
        if len(fields) != 2 or not fields[0].isdigit():
            raise SplitError(f"{path}:{n}: expected '<index> <class name>', got {' '.join(fields)!r}")
        index, name = int(fields[0]), fields[1]
        if index in by_index:
            raise SplitError(f"{path}:{n}: index {index} defined twice (first at line {by_index[index][1]})")
        by_index[index] = (name, n)
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise SplitError(f"{path}: indices must be 1..{len(by_index)} without gaps, got {sorted(by_index)}")
    names = [by_index[i][0] for i in range(1, len(by_index) + 1)]
    if len(set(names)) != len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise SplitError(f"{path}: class {dup!r} has two indices")
    return names


def _ucf_list(path: str, split: str, classes: list[str], found: _Collector) -> None:
    for n, fields in _lines(path, found.options):
        where = f"{path}:{n}"
        # trainlist lines carry the 1-based label; testlist lines are the path alone.
        if len(fields) not in ((2,) if split == TRAIN else (1, 2)):
            raise SplitError(f"{where}: expected '<class>/<video>.avi{' <label>' if split == TRAIN else ''}', "
                             f"got {' '.join(fields)!r}")
        class_name, rel = _video_path(fields[0], found.options.extensions, where)
        if class_name not in classes:
            raise SplitError(f"{where}: class {class_name!r} is not in classInd.txt")
        label = classes.index(class_name)
        if len(fields) == 2 and (not fields[1].isdigit() or int(fields[1]) != label + 1):
            raise SplitError(f"{where}: label {fields[1]} but classInd.txt gives {class_name} index {label + 1}")
        found.add(rel, class_name, label, split, where)


def parse_ucf101(root: str, lists_dir: str, options: SplitOptions = SplitOptions()) -> SplitTable:
    classes = parse_class_index(join(lists_dir, "classInd.txt"), options)
    folders = _class_folders(root, options)
    _check_folders(folders, classes, join(lists_dir, "classInd.txt"))
    found = _Collector(folders, options)
    _ucf_list(join(lists_dir, f"trainlist0{options.split}.txt"), TRAIN, classes, found)
    _ucf_list(join(lists_dir, f"testlist0{options.split}.txt"), TEST, classes, found)
    return found.table("ucf101", classes)


# ----------------------------------------------------------------------------------------------------------
# HMDB51.

HMDB_FLAGS = {"0": None, "1": TRAIN, "2": TEST}


def _hmdb_split_files(splits_dir: str, options: SplitOptions) -> dict[str, str]:
    """Class name -> its split file, from the names '<class>_test_split<N>.txt'."""
    suffix = f"_test_split{options.split}.txt"
    files = {name[:-len(suffix)]: join(splits_dir, name) for name, kind in sorted(_listing(splits_dir, options, 1).items())
             if kind != "directory" and name.endswith(suffix) and len(name) > len(suffix)}
    if not files:
        raise SplitError(f"{splits_dir}: no '<class>{suffix}' files")
    return files


def _hmdb_list(path: str, class_name: str, label: int, found: _Collector) -> None:
    for n, fields in _lines(path, found.options):
        where = f"{path}:{n}"
        if len(fields) != 2 or fields[1] not in HMDB_FLAGS:
            raise SplitError(f"{where}: expected '<video>.avi <0|1|2>', got {' '.join(fields)!r}")
        video = fields[0]
        bad_name = "/" in video or "\\" in video or video in (".", "..")
        if bad_name or not video.lower().endswith(found.options.extensions):
            raise SplitError(f"{where}: {video!r} is not a video file name")
        found.add(f"{class_name}/{video}", class_name, label, HMDB_FLAGS[fields[1]], where)


def parse_hmdb51(root: str, splits_dir: str, options: SplitOptions = SplitOptions()) -> SplitTable:
    files = _hmdb_split_files(splits_dir, options)
    classes = sorted(files)
    folders = _class_folders(root, options)
    _check_folders(folders, classes, splits_dir)
    found = _Collector(folders, options)
    for label, class_name in enumerate(classes):
        _hmdb_list(files[class_name], class_name, label, found)
    return found.table("hmdb51", classes)


LAYOUTS: dict[str, Callable[[str, str, SplitOptions], SplitTable]] = {"ucf101": parse_ucf101, "hmdb51": parse_hmdb51}


def parse_splits(dataset: str, root: str, lists_dir: str, options: SplitOptions = SplitOptions()) -> SplitTable:
    if dataset not in LAYOUTS:
        raise SplitError(f"unknown dataset layout {dataset!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[dataset](root, lists_dir, options)
