"""UCF101 / HMDB51 split parsing on tiny datasets in the exact official layouts (tests/videodata.py)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from synthvid.factory.realvideo.splits import SplitError, SplitOptions, parse_hmdb51, parse_splits, parse_ucf101
from tests.videodata import HMDB_CLASSES, UCF_CLASSES, TinySpec, make_hmdb51, make_ucf101

SPEC = TinySpec(videos_per_class=5, test_per_class=2, frames=6, width=32, height=24)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("splits")
    return make_ucf101(str(base), SPEC), make_hmdb51(str(base), SPEC)


def _private_copy(dataset, folder) -> tuple[str, str]:
    """A copy of a layout (class folders, list folder) that a test may break."""
    root, lists = str(folder / "videos"), str(folder / "lists")
    shutil.copytree(dataset.root, root)
    shutil.copytree(dataset.lists, lists)
    return root, lists


@pytest.fixture
def ucf(datasets, tmp_path):
    return _private_copy(datasets[0], tmp_path / "ucf101")


@pytest.fixture
def hmdb(datasets, tmp_path):
    return _private_copy(datasets[1], tmp_path / "hmdb51")


def _edit(path: str, fn) -> None:
    with open(path, newline="") as f:
        lines = f.read().split("\r\n")
    with open(path, "w", newline="") as f:
        f.write("\r\n".join(fn(lines)))


def test_ucf101_splits_are_the_lists(datasets):
    ucf = datasets[0]
    for split in (1, 2, 3):
        table = parse_ucf101(ucf.root, ucf.lists, SplitOptions(split=split))
        assert table.classes == UCF_CLASSES
        train, test = table.of("train"), table.of("test")
        assert len(train) == 3 * 3 and len(test) == 3 * 2
        assert not {e.path for e in train} & {e.path for e in test}
        assert [e.path for e in train] == sorted(e.path for e in train)
        for e in table.entries:
            assert e.class_name == e.path.split("/")[0] and e.label == UCF_CLASSES.index(e.class_name)
            assert os.path.isfile(os.path.join(ucf.root, e.path))
        assert table.counts() == {"classes": 3, "train": 9, "test": 6, "unused": 0, "unlisted": 0, "missing": 0}
    s1 = parse_splits("ucf101", ucf.root, ucf.lists, SplitOptions(split=1))
    s2 = parse_splits("ucf101", ucf.root, ucf.lists, SplitOptions(split=2))
    assert [e.path for e in s1.of("test")] == ucf.split1["test"]
    assert {e.path for e in s1.of("test")} != {e.path for e in s2.of("test")}


def test_hmdb51_flags_labels_and_unused(datasets):
    hmdb = datasets[1]
    table = parse_hmdb51(hmdb.root, hmdb.lists, SplitOptions(split=1))
    assert table.classes == tuple(sorted(HMDB_CLASSES))
    assert [e.path for e in table.of("train")] == hmdb.split1["train"]
    assert [e.path for e in table.of("test")] == hmdb.split1["test"]
    assert len(table.unused) == 3 and all("_2.avi" in p for p in table.unused)   # flag 0: named, counted
    for e in table.entries:
        assert table.classes[e.label] == e.class_name == e.path.split("/")[0]
    assert table.counts()["unused"] == 3


def _error(fn, *args) -> str:
    with pytest.raises(SplitError) as info:
        fn(*args)
    return str(info.value)


def test_ucf101_malformed_line_names_file_and_line(ucf):
    root, lists = ucf
    _edit(os.path.join(lists, "trainlist01.txt"), lambda ls: ls[:2] + [ls[2].split()[0]] + ls[3:])
    msg = _error(parse_ucf101, root, lists)
    assert re.search(r"trainlist01\.txt:3: expected '<class>/<video>\.avi <label>'", msg), msg


def test_ucf101_label_disagreeing_with_class_index(ucf):
    root, lists = ucf
    _edit(os.path.join(lists, "trainlist01.txt"), lambda ls: [ls[0].replace(" 1", " 2")] + ls[1:])
    msg = _error(parse_ucf101, root, lists)
    assert "trainlist01.txt:1: label 2 but classInd.txt gives RideBike index 1" in msg


def test_ucf101_class_missing_from_class_index(ucf):
    root, lists = ucf
    _edit(os.path.join(lists, "testlist01.txt"), lambda ls: ls + ["Juggling/v_Juggling_g01_c01.avi"])
    msg = _error(parse_ucf101, root, lists)
    assert re.search(r"testlist01\.txt:\d+: class 'Juggling' is not in classInd\.txt", msg), msg
    # a class folder that classInd.txt does not define
    _edit(os.path.join(lists, "classInd.txt"), lambda ls: ls[:2])
    msg = _error(parse_ucf101, root, lists)
    assert "classInd.txt: the dataset has a class folder 'PanPhoto' that is not a class here" in msg


def test_ucf101_missing_video_is_an_error_or_a_named_skip(ucf):
    root, lists = ucf
    gone = "WatchCartoon/v_WatchCartoon_g01_c01.avi"
    os.remove(os.path.join(root, gone))
    msg = _error(parse_ucf101, root, lists)
    assert re.search(rf"testlist01\.txt:\d+: {gone} is not in the dataset folder", msg), msg
    table = parse_ucf101(root, lists, SplitOptions(on_missing="skip"))
    assert table.missing == (gone,) and table.counts()["missing"] == 1 and len(table.of("test")) == 5


def test_empty_class_folder_and_duplicates_and_unlisted(ucf):
    root, lists = ucf
    shutil.copy(os.path.join(root, "RideBike", "v_RideBike_g05_c01.avi"), os.path.join(root, "RideBike", "extra.avi"))
    table = parse_ucf101(root, lists)
    assert table.unlisted == ("RideBike/extra.avi",)      # on disk, in no list: named and counted
    _edit(os.path.join(lists, "trainlist01.txt"), lambda ls: ls + [ls[0]])
    msg = _error(parse_ucf101, root, lists)
    twice = r"trainlist01\.txt:\d+: RideBike/v_RideBike_g03_c01\.avi is listed twice \(first at .*trainlist01\.txt:1\)"
    assert re.search(twice, msg), msg
    for f in os.listdir(os.path.join(root, "PanPhoto")):
        os.remove(os.path.join(root, "PanPhoto", f))
    assert re.search(r"PanPhoto: class folder holds no \.avi video", _error(parse_ucf101, root, lists))


def test_paths_leaving_the_dataset_are_rejected(ucf, hmdb):
    root, lists = ucf
    _edit(os.path.join(lists, "testlist01.txt"), lambda ls: ["RideBike/../../etc/passwd.avi"] + ls)
    msg = _error(parse_ucf101, root, lists)
    assert "testlist01.txt:1: 'RideBike/../../etc/passwd.avi' is not a '<class>/<video>.avi' path" in msg
    hroot, hlists = hmdb
    _edit(os.path.join(hlists, "cartoon_test_split1.txt"), lambda ls: ["../x.avi 1"] + ls)
    assert "cartoon_test_split1.txt:1: '../x.avi' is not a video file name" in _error(parse_hmdb51, hroot, hlists)


def test_hmdb51_errors_name_file_and_line(hmdb):
    root, lists = hmdb
    path = os.path.join(lists, "pan_photo_test_split2.txt")
    _edit(path, lambda ls: ls[:1] + [ls[1].replace(" 1 ", " 3 ").replace(" 2 ", " 3 ").replace(" 0 ", " 3 ")] + ls[2:])
    msg = _error(parse_hmdb51, root, lists, SplitOptions(split=2))
    assert re.search(r"pan_photo_test_split2\.txt:2: expected '<video>\.avi <0\|1\|2>'", msg), msg
    os.remove(os.path.join(lists, "cartoon_test_split1.txt"))   # the folder stays: which label would it get?
    assert "the dataset has a class folder 'cartoon' that is not a class here" in _error(parse_hmdb51, root, lists)


def test_unreadable_list_files(ucf):
    root, lists = ucf
    with open(os.path.join(lists, "classInd.txt"), "wb") as f:
        f.write(b"1 Ride\xffBike\r\n")
    assert "classInd.txt: not UTF-8 text" in _error(parse_ucf101, root, lists)
    os.remove(os.path.join(lists, "classInd.txt"))
    assert "classInd.txt: no such file" in _error(parse_ucf101, root, lists)
    with pytest.raises(SplitError, match="split 4: the official layouts have splits"):
        SplitOptions(split=4)
