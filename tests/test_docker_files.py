"""docker/: no Docker engine runs here, so check what can be checked. The Dockerfiles parse (a small
instruction parser), every repository path they COPY exists and survives their .dockerignore, every command
they run is a real console script or module; the Ray cluster launcher YAML and the KubeRay RayJob parse and
their build command parses with the real CLI parser; the torchrun script is valid bash and its command
parses with torchrun's and the trainer's own argument parsers."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")
DOCKERFILES = ["factory.Dockerfile", "trainer.Dockerfile"]
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def console_scripts() -> dict[str, str]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"].get("scripts", {})


def parse_dockerfile(path: str) -> list[tuple[str, str]]:
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, pending = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            logical = (pending + line).strip()
            pending = ""
            word, _, rest = logical.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def _commands(kind: str, args: str) -> list[list[str]]:
    """Command lines of a RUN/CMD/ENTRYPOINT (exec or shell form), split at && ; |."""
    if args.startswith("["):
        return [json.loads(args)]
    parts = re.split(r"&&|\|\||;|\|", args)
    return [shlex.split(p) for p in parts if p.strip()]


def _dockerignore_allows(ignore_path: str, rel: str) -> bool:
    if not os.path.exists(ignore_path):
        return True
    allowed = True
    for line in open(ignore_path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.rstrip("/")
        target = rel.rstrip("/")
        hit = pattern == "**" or fnmatch.fnmatch(target, pattern) or target.startswith(pattern + "/")
        if hit:
            allowed = negate
    return allowed


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_parses_and_references_exist(name):
    path = os.path.join(DOCKER, name)
    instructions = parse_dockerfile(path)
    words = [w for w, _ in instructions]
    assert set(words) <= INSTRUCTIONS, set(words) - INSTRUCTIONS
    first = next(w for w in words if w != "ARG")
    assert first == "FROM"
    scripts = console_scripts()
    copied, installed = [], set()          # sources copied in; paths they land on inside the image
    for word, args in instructions:
        if word in ("COPY", "ADD"):
            tokens = [t for t in shlex.split(args) if not t.startswith("--")]
            assert len(tokens) >= 2, f"{name}: {word} {args}"
            for src in tokens[:-1]:
                assert not src.startswith(("/", "..")), f"{name}: {src} is outside the build context"
                assert os.path.exists(os.path.join(ROOT, src)), f"{name}: COPY source {src} missing from the repo"
                assert _dockerignore_allows(path + ".dockerignore", src), f"{name}: {src} is excluded by its .dockerignore"
                copied.append(src.rstrip("/"))
            installed.add(tokens[-1])
        if word in ("RUN", "CMD", "ENTRYPOINT"):
            for argv in _commands(word, args):
                for i, tok in enumerate(argv):
                    if tok.startswith("synthvid-") and tok not in ("synthvid-torchrun-multinode",):
                        assert tok in scripts, f"{name}: {tok} is not a console script in pyproject.toml"
                    if tok == "-m" and i + 1 < len(argv) and argv[i + 1].startswith("synthvid"):
                        assert importlib.util.find_spec(argv[i + 1]) is not None, f"{name}: no module {argv[i + 1]}"
                if argv and argv[0].startswith("/usr/local/bin/"):   # a program the image itself installs
                    assert argv[0] in installed or os.path.basename(argv[0]) in scripts, f"{name}: {argv[0]}"
    # everything the packages need is in the image (pyproject's package-dir)
    for folder in ("synthvid", "manifests", "factory", "trainer"):
        assert folder in copied, f"{name}: {folder}/ is not copied"
    assert "pyproject.toml" in copied and "constraints.txt" in copied


def test_dockerfiles_pin_what_make_installs():
    pins = dict(line.split("==", 1) for line in open(os.path.join(ROOT, "constraints.txt")).read().split()
                if "==" in line)
    trainer = open(os.path.join(DOCKER, "trainer.Dockerfile")).read()
    for pkg in ("torch", "torchvision"):
        m = re.search(rf"\b{pkg}==([\w.+-]+)", trainer)
        assert m and m.group(1) == pins[pkg], f"trainer.Dockerfile pins {pkg} differently from constraints.txt"
    assert "-c constraints.txt" in open(os.path.join(DOCKER, "factory.Dockerfile")).read()


def test_entry_points_the_images_call_run():
    bindir = os.path.dirname(sys.executable)
    r = subprocess.run([os.path.join(bindir, "synthvid-factory"), "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "accelerating-shapes" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "synthvid.trainer.cli", "--help"], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0 and "pretrain" in r.stdout, r.stderr


def _build_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == "synthvid-factory" and argv[0] in console_scripts()
    return argv[1:]


def _parse_build(argv: list[str]):
    from synthvid.factory.cli import parser

    args = parser().parse_args(argv)
    assert args.command == "build" and args.all and args.videos == 9537
    assert args.out.startswith("s3://") and args.ray_address == "auto"
    return args


def test_rayjob_manifest():
    with open(os.path.join(DOCKER, "rayjob-build-all.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    assert len(docs) == 1
    job = docs[0]
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    _parse_build(_build_argv(spec["entrypoint"]))
    pins = dict(line.split("==", 1) for line in open(os.path.join(ROOT, "constraints.txt")).read().split()
                if "==" in line)
    assert spec["rayClusterSpec"]["rayVersion"] == pins["ray"], "KubeRay rayVersion must match the image's Ray"
    pods = [spec["rayClusterSpec"]["headGroupSpec"]["template"]] + \
           [g["template"] for g in spec["rayClusterSpec"]["workerGroupSpecs"]]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert len(images) == 1, "head and workers must run the same image (identical software -> identical bytes)"
    for p in pods:
        for c in p["spec"]["containers"]:
            assert any("secretRef" in e for e in c.get("envFrom", [])), "credentials come from a secret"
            for e in c.get("env", []):
                assert not e["name"].startswith("AWS_SECRET"), "no credential values in the manifest"
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_cluster_launcher_yaml():
    with open(os.path.join(DOCKER, "ray-cluster.yaml")) as f:
        text = f.read()
    cfg = yaml.safe_load(text)
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "docker",
                "head_start_ray_commands", "worker_start_ray_commands"):
        assert key in cfg, key
    assert cfg["head_node_type"] in cfg["available_node_types"]
    assert cfg["available_node_types"][cfg["head_node_type"]]["resources"] == {"CPU": 0}
    with open(os.path.join(DOCKER, "rayjob-build-all.yaml")) as f:
        job = yaml.safe_load(f)
    image = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    assert cfg["docker"]["image"] == image
    # the build command the header tells users to run parses with the real CLI
    commands = re.findall(r"'(synthvid-factory build [^']+)'", text)
    assert commands, "the launcher YAML documents the build command"
    for command in commands:
        _parse_build(_build_argv(command))
    assert "AWS_SECRET_ACCESS_KEY" not in text


def test_torchrun_script():
    script = os.path.join(DOCKER, "torchrun_multinode.sh")
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", script], check=True)
    env = {**os.environ, "DRY_RUN": "1", "NODE_RANK": "1", "NNODES": "2", "MASTER_ADDR": "10.0.0.1",
           "DATA": "s3://bucket/synthvid/v1/accelerating-shapes", "OUT": "/nonexistent/run"}
    r = subprocess.run([script], env=env, capture_output=True, text=True, timeout=30, check=True)
    argv = shlex.split(r.stdout)
    assert argv[0] == "torchrun"
    module_at = argv.index("--module")
    trainer_argv = argv[module_at + 2:]
    assert argv[module_at + 1] == "synthvid.trainer.cli"
    from torch.distributed.run import get_args_parser

    targs = get_args_parser().parse_args(argv[1:])
    assert targs.module and targs.nnodes == "2" and targs.node_rank == 1 and targs.rdzv_backend == "c10d"
    assert targs.training_script == "synthvid.trainer.cli"
    from synthvid.trainer.cli import parser

    args = parser().parse_args(trainer_argv)
    assert args.data == ["s3://bucket/synthvid/v1/accelerating-shapes"] and args.out == "/nonexistent/run"
    # missing settings fail loudly instead of starting a half-configured job
    bad = {k: v for k, v in env.items() if k != "NODE_RANK"}
    r = subprocess.run([script], env=bad, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "NODE_RANK" in r.stderr
