"""The deployment manifests in configs/deploy/ are read by Ray's own validators (the cluster launcher's schema and
KubeRay's autoscaler translation), and their nodes hold every worker of the recipe they launch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr
from ray.autoscaler._private.util import prepare_config, validate_config

from actors.runtime import placement_options
from rlcore.config import RunConfig, load_config
from rlcore.placement import plan_group
from tests.conftest import ROOT

DEPLOY = ROOT / "configs" / "deploy"
CLUSTER_YAML = DEPLOY / "ray_cluster_aws_qwen2.5_7b_grpo.yaml"
RAYJOB_YAML = DEPLOY / "kuberay_rayjob_qwen2.5_7b_grpo.yaml"
RECIPE = ROOT / "configs" / "qwen2.5_7b_grpo_2x8gpu.yaml"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def worker_bundles(config: RunConfig) -> list[dict[str, float]]:
    """Every placement-group bundle the recipe's worker groups ask for (a TP engine's one-GPU bundles too), largest
    first."""
    sections = {role: getattr(config, role) for role in ("rollout", "learner", "reference", "reward")}
    bundles = [
        bundle
        for role, section in sections.items()
        for bundle in plan_group(section.num_workers, **placement_options(config, role, section)).bundles
    ]
    return sorted(bundles, key=lambda b: (b.get("GPU", 0), b.get("CPU", 0)), reverse=True)


def fits(bundles: list[dict[str, float]], node: dict[str, float], nodes: int) -> bool:
    """First-fit decreasing of the bundles onto `nodes` nodes of `node`'s resources."""
    free = [dict(node) for _ in range(nodes)]
    for bundle in bundles:
        host = next((n for n in free if all(n.get(k, 0) >= v for k, v in bundle.items())), None)
        if host is None:
            return False
        for key, value in bundle.items():
            host[key] -= value
    return True


def kuberay_autoscaling_config(rayjob: dict[str, Any]) -> dict[str, Any]:
    """What KubeRay's in-tree autoscaler derives from the RayJob's cluster (it validates the result itself)."""
    ray_cr = {
        "metadata": {"name": rayjob["metadata"]["name"], "namespace": "default"},
        "spec": rayjob["spec"]["rayClusterSpec"],
    }
    return _derive_autoscaling_config_from_ray_cr(ray_cr)


def gpu_node_type(autoscaling: dict[str, Any]) -> dict[str, Any]:
    (node_type,) = [n for n in autoscaling["available_node_types"].values() if n["resources"].get("GPU")]
    return node_type


@pytest.fixture(scope="module")
def recipe() -> RunConfig:
    return load_config(RECIPE, [])


def test_the_cluster_launcher_accepts_the_cluster_yaml_and_its_nodes_hold_the_recipe(recipe):
    cluster = load(CLUSTER_YAML)
    prepared = prepare_config(copy.deepcopy(cluster))  # what `ray up` does before launching anything
    validate_config(prepared)
    gpu = gpu_node_type(prepared)
    assert fits(worker_bundles(recipe), gpu["resources"], gpu["min_workers"])
    assert gpu["min_workers"] < gpu["max_workers"], "no room to autoscale"
    assert prepared["available_node_types"][prepared["head_node_type"]]["resources"] == {"CPU": 0}


def test_the_cluster_yaml_is_token_authenticated_and_keeps_the_dashboard_on_loopback():
    cluster = load(CLUSTER_YAML)
    starts = cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in command for command in starts if "ray start" in command)
    assert any("--dashboard-host=127.0.0.1" in command for command in cluster["head_start_ray_commands"])
    assert "~/.ray/auth_token" in cluster["file_mounts"]


def test_kuberay_derives_an_autoscaling_cluster_that_holds_the_recipe(recipe):
    rayjob = load(RAYJOB_YAML)
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    spec = rayjob["spec"]["rayClusterSpec"]
    assert spec["enableInTreeAutoscaling"] is True and spec["authOptions"] == {"mode": "token"}
    assert spec["rayVersion"] == ray.__version__  # the version this project is tested with
    (group,) = spec["workerGroupSpecs"]
    assert (
        group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        and group["minReplicas"] < group["maxReplicas"]
    )
    gpu = gpu_node_type(kuberay_autoscaling_config(rayjob))
    assert fits(worker_bundles(recipe), gpu["resources"], gpu["min_workers"])


def test_the_rayjob_runs_the_recipe_with_its_run_directory_on_the_shared_volume(recipe):
    rayjob = load(RAYJOB_YAML)
    program, verb, config_path = rayjob["spec"]["entrypoint"].split()
    assert (program, verb) == ("rlcore", "train") and (ROOT / config_path) == RECIPE
    spec = rayjob["spec"]["rayClusterSpec"]
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    for pod in pods:
        (container,) = pod["containers"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert any(str(recipe.run.output_dir).startswith(path) for path in mounts)
        assert container["image"] == load(CLUSTER_YAML)["docker"]["image"]  # one image, built from the Dockerfile
    assert f"rayproject/ray:{ray.__version__}-" in (DEPLOY / "Dockerfile").read_text()


def test_the_checks_catch_a_cluster_too_small_for_the_recipe(recipe):
    """The checks above can fail: one GPU node cannot hold 15 GPUs of workers, and Ray rejects a global
    max_workers below the node types' minimum."""
    rayjob = load(RAYJOB_YAML)
    rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["minReplicas"] = 1
    gpu = gpu_node_type(kuberay_autoscaling_config(rayjob))
    assert not fits(worker_bundles(recipe), gpu["resources"], gpu["min_workers"])
    cluster = prepare_config(load(CLUSTER_YAML))
    cluster["max_workers"] = 1
    with pytest.raises(ValueError, match="max_workers"):
        validate_config(cluster)
