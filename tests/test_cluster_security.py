"""Ray clusters run code with the bucket-writing credentials, so nobody may reach one unauthenticated: the
cluster configs turn Ray token authentication on and keep every service on the cluster network, only the
tests turn it off, and the Ray runtime a build starts on its own runs with a token of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name: str):
    with open(os.path.join(ROOT, "docker", name)) as f:
        return yaml.safe_load(f)


def _values(node):
    """Every scalar of a parsed YAML document (comments excluded)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _values(v)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v)
    else:
        yield str(node)


def test_the_cluster_launcher_config_enables_token_auth_and_keeps_ports_inside():
    cfg = _load("ray-cluster.yaml")
    assert "-e RAY_AUTH_MODE=token" in cfg["docker"]["run_options"]
    assert cfg["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}      # the same token on every node
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert not any("0.0.0.0" in v for v in _values(cfg)), "nothing may listen on every interface"
    for node in cfg["available_node_types"].values():             # no security group opened up either
        assert "SecurityGroupIds" not in node["node_config"]
    assert "security_group" not in cfg["provider"]


def test_the_rayjob_enables_token_auth_and_keeps_the_head_service_inside():
    job = _load("rayjob-build-all.yaml")
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP"
    assert not any("0.0.0.0" in v for v in _values(job))
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        assert "dashboard-host" not in group["rayStartParams"]
        for c in group["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                assert e["name"] != "RAY_AUTH_MODE" or e["value"] == "token"


def test_only_the_tests_turn_ray_auth_off():
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    recipes = re.findall(r"^(\S+):[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.M)
    off = [target for target, body in recipes if "RAY_AUTH_MODE=disabled" in body]
    assert off == ["test"], off
    assert not re.search(r"^(export\s+)?RAY_AUTH_MODE\s*[:?+]?=", makefile, re.M), "no Makefile-wide setting"
    for name in os.listdir(os.path.join(ROOT, "docker")):
        assert "RAY_AUTH_MODE=disabled" not in open(os.path.join(ROOT, "docker", name)).read(), name


_LOCAL_RUNTIME = textwrap.dedent("""
    import os, subprocess, sys
    from ray._raylet import AuthenticationMode, get_authentication_mode
    from synthvid.factory.pipeline.distribute import open_distributor
    from synthvid.factory.pipeline.options import BuildOptions

    with open_distributor(BuildOptions("unused", workers=1)) as distributor:
        import ray
        print("mode", get_authentication_mode() == AuthenticationMode.TOKEN)
        print("token file", os.path.exists(os.path.expanduser("~/.ray/auth_token")))
        print("workers run", ray.get(ray.remote(lambda: 7).remote()) == 7)
        stranger = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        stranger.update(RAY_AUTH_MODE="disabled", RAY_gcs_server_port_wait_time_s="1")
        address = ray.get_runtime_context().gcs_address
        r = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={address!r})"], env=stranger,
                           capture_output=True, text=True, timeout=300)
        print("stranger refused", r.returncode != 0 and "InvalidAuthToken" in r.stderr)
    print("token left in the environment", any(k.startswith("RAY_AUTH") for k in os.environ))
""")


def test_a_runtime_the_build_starts_requires_its_token(tmp_path):
    home = tmp_path / "home"                       # where Ray would have written a token file: it must not
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    r = subprocess.run([sys.executable, "-c", _LOCAL_RUNTIME], env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == ["mode True", "token file False", "workers run True", "stranger refused True",
                                     "token left in the environment False"], r.stdout + r.stderr[-3000:]
