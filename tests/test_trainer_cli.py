"""synthvid-train's command line: help on every flag, defaults shown once, one spelling for storage options
and factory parameters, --version, and the subcommand plug-in shape."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from synthvid.trainer import cli, pretrain


def _subparser(name: str) -> argparse.ArgumentParser:
    p = cli.parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_every_flag_has_help_and_defaults_appear_once():
    p = _subparser("pretrain")
    for action in p._actions:
        assert action.help, f"{action.option_strings} has no help"
    text = p.format_help()
    assert "`" not in text and "`" not in cli.parser().format_help()
    entries = re.split(r"\n  (?=-)", text)
    for entry in entries:
        assert entry.count("default") <= 1, entry
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: 0.0003)" in text and "(default: 3200)" in text


def test_version():
    r = subprocess.run([sys.executable, "-m", "synthvid.trainer.cli", "--version"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and re.fullmatch(r"synthvid-train \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout


def test_storage_options_and_procedural_params_as_key_value_pairs():
    args = cli.parser().parse_args([
        "pretrain", "--data", "s3://b/v", "--out", "o", "--storage-option", "endpoint_url=http://127.0.0.1:9000",
        "--storage-option", "client_kwargs.region_name=eu-west-1", "--storage-option", "anon=false",
        "--procedural-param", "size=128", "--procedural-param", 'shapes=["circle"]'])
    cfg = pretrain.config_from_args(args)
    assert cfg.storage_options == {"endpoint_url": "http://127.0.0.1:9000", "anon": False,
                                   "client_kwargs": {"region_name": "eu-west-1"}}
    assert cfg.procedural_params == {"size": 128, "shapes": ["circle"]}
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["pretrain", "--data", "x", "--out", "o", "--procedural-param", "size"])


def test_bad_storage_option_is_one_line(capsys):
    rc = cli.main(["pretrain", "--data", "s3://b/v", "--out", "o", "--storage-option", "novalue"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--storage-option 'novalue': expected key=value" in err


def test_subcommands_plug_in_as_modules(monkeypatch, capsys):
    class Extra:
        @staticmethod
        def add_parser(subparsers):
            subparsers.add_parser("extra", help="an added command").add_argument("--n", type=int, help="n")

        @staticmethod
        def run(args):
            print(f"extra {args.n}")
            return 0

    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, Extra])
    assert cli.main(["extra", "--n", "3"]) == 0 and capsys.readouterr().out == "extra 3\n"
    assert cli.parser().parse_args(["pretrain", "--data", "x", "--out", "o"])._run is pretrain.run


def test_vit_large_follows_the_official_vit_l_recipe():
    """spec/videomae.md 1.5: the official ViT-L pretraining decoder is 512 wide, 12 blocks, 8 heads (ViT-S/B: 4
    blocks); spec/paper.md C.1: ViT-L runs use the same recipe with the batch halved (192 -> 96)."""
    from synthvid.trainer.model import model_config

    large = model_config("vit_large")
    assert (large.decoder_dim, large.decoder_depth, large.decoder_heads) == (512, 12, 8)
    assert model_config("vit_base").decoder_depth == model_config("vit_small").decoder_depth == 4
    parse = lambda *extra: pretrain.config_from_args(cli.parser().parse_args(["pretrain", "--data", "x", "--out", "o", *extra]))
    assert parse("--model", "vit_large").batch_size == 96
    assert parse().batch_size == 192 and parse("--model", "vit_large", "--batch-size", "64").batch_size == 64
    text = " ".join(_subparser("pretrain").format_help().split())
    assert "vit_large has the decoder of the official ViT-L pretraining (512 wide, 12 blocks, 8 heads" in text
    assert "96 for vit_large" in text


def test_pretrain_says_which_paper_row_it_reproduces(tmp_path, capsys):
    from tests.test_trainer_fixtures import TINY, build

    common = ["--model", "vit_tiny_test", "--img-size", "64", "--sampling-rate", "1", "--batch-size", "4",
              "--epochs", "1", "--max-steps", "1", "--workers", "0", "--threads", "1", "--no-progress"]
    size = [f"--procedural-param={k}={v}" for k, v in TINY.items()]
    assert cli.main(["pretrain", "--data", "procedural:accelerating-shapes", "--epoch-size", "8", *size, *common,
                     "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert ("procedural:accelerating-shapes reproduces paper Fig 2 / Tab 1, row 'Acc. & transforming shapes' "
            "(ViT-B UCF101 fine-tune 88.1); matches the authors' form: the authors rendered fresh videos every "
            "epoch (stated)") in out
    assert "non-paper parameters frames_max=30, frames_min=20, size=64" in out
    url = build()
    assert cli.main(["pretrain", "--data", url, *common, "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert f"{url} reproduces paper Fig 2 / Tab 1, row 'Acc. & transforming shapes'" in out
    assert "differs from the authors' form: the authors rendered fresh videos every epoch" in out
    assert "--data procedural:<variant> does the same" in out


def test_paper_rows_cover_the_catalogue():
    """Every catalogued variant has its paper row, with the same UCF101 number as the factory's catalogue."""
    from synthvid.factory.generate.variants.registry import list_variants
    from synthvid.trainer.paper import FIXED, ON_THE_FLY, ROWS

    catalogue = {v.name: v.paper_ucf101_ft for v in list_variants()}
    assert len(catalogue) == 28 and set(ROWS) == set(catalogue)
    assert {k: r.ucf101_ft for k, r in ROWS.items()} == catalogue
    stages = list(ROWS.values())[:8]
    assert [r.form for r in stages] == [ON_THE_FLY] * 5 + [FIXED] * 3 and all(r.stated for r in stages)


def test_paper_row_of_fixed_sets():
    from types import SimpleNamespace

    from synthvid.trainer.paper import describe

    def shards(variant, videos, overrides=None):
        card = {"variant": variant, "videos": videos, "recipe": {"overrides": overrides or {}}}
        return SimpleNamespace(name="s3://b/v1/" + variant, ds=SimpleNamespace(card=card))

    line = describe(shards("accelerating-textures", 9537))
    assert "row 'Acc. & transforming textures' (ViT-B UCF101 fine-tune 89.4); matches the authors' form: the " \
           "authors trained on a fixed set of 9,537 videos (stated)" in line and "non-paper" not in line
    assert "this set holds 500" in describe(shards("accelerating-textures", 500))
    assert "paper Tab 12" in describe(shards("saturated-image-crops", 9537)) and "(inferred from its base stage)" in \
        describe(shards("saturated-image-crops", 9537))
    assert describe(shards("my-own-recipe", 9537)) is None
