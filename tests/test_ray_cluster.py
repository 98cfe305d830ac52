"""A real two-node Ray cluster on this machine (ray.cluster_utils.Cluster: each node its own raylet and
resources) builds a variant straight into object storage; the shards are byte-identical to a one-worker
build. Workers take credentials and endpoint from their own environment (the standard chain), as cluster
nodes would; the driver only gathers markers. Every Ray process is stopped through the cluster's handle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.generate.recipe import from_variant

from .fixtures_s3 import FaultProxy
from .helpers import TINY, tree_digest
from .test_storage_build import PER_SHARD, SEED, SHARDS, VARIANT, VIDEOS, _prefix, remote_digest

DRIVER = textwrap.dedent('''
    import json, os, subprocess, sys, time
    import psutil
    from ray.cluster_utils import Cluster
    from ray._private import ray_constants

    out, build_args = sys.argv[1], sys.argv[2:]
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    result = {}
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        result["cluster_start_s"] = round(time.monotonic() - t0, 1)
        nodes = [cluster.head_node, *cluster.worker_nodes]
        raylets = [psutil.Process(n.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid) for n in nodes]
        result["raylets"] = len(raylets)
        t1 = time.monotonic()
        build = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", "build", *build_args, "--out", out,
                                  "--ray-address", cluster.address, "--workers", "2", "--no-progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        busy = set()
        while build.poll() is None:
            for i, raylet in enumerate(raylets):
                try:
                    for child in raylet.children(recursive=True):
                        try:
                            if child.cmdline()[:1] and "build_shard" in child.cmdline()[0]:
                                busy.add(i)
                        except psutil.Error:
                            pass
                except psutil.Error:
                    pass
            time.sleep(0.03)
        stdout, stderr = build.communicate()
        result.update(rc=build.returncode, stdout=stdout[-2000:], stderr=stderr[-3000:],
                      nodes_running_shards=sorted(busy), build_s=round(time.monotonic() - t1, 1))
    finally:
        cluster.shutdown()
        result["left_alive"] = cluster.remaining_processes_alive() if cluster.head_node else False
    print(json.dumps(result))
''')


def test_two_node_cluster_build_is_byte_identical_to_one_worker(s3_server, tmp_path, ray_runtime):
    # one worker on the session's local runtime, to local disk
    ref = str(tmp_path / "one-worker")
    build_variants([from_variant(VARIANT, TINY)],
                   BuildOptions(ref, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=1, progress=False))
    reference = {k.split("/", 1)[1]: v for k, v in tree_digest(ref).items()}

    # uploads throttled to ~150 KB/s per connection so every shard task lasts long enough to be seen on
    # its node; both nodes take credentials and the endpoint from the environment they were started with
    proxy = FaultProxy(s3_server.ports["s3"])
    proxy.set_mode("throttle", rate=150_000)
    url = s3_server.unique_url("cluster")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**s3_server.subprocess_env(AWS_ENDPOINT_URL=proxy.endpoint_url), "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        r = subprocess.run([sys.executable, str(script), url, VARIANT, "--videos", str(VIDEOS),
                            "--videos-per-shard", str(PER_SHARD), "--seed", str(SEED), "--size", "64",
                            "--frames", "20-30"], env=env, capture_output=True, text=True, timeout=300,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    print("\ntwo-node cluster:", json.dumps({k: v for k, v in result.items() if k not in ("stdout", "stderr")}))
    assert result["rc"] == 0, result["stderr"]
    assert result["raylets"] == 2
    assert result["nodes_running_shards"] == [0, 1], "both nodes must have run shard tasks"
    assert not result["left_alive"]

    got = remote_digest(s3_server, f"{_prefix(url)}/{VARIANT}")
    shards = {k: v for k, v in got.items() if k.endswith(".tar")}
    assert len(shards) == SHARDS
    assert got == reference
