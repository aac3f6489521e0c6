"""The deploy service with its jobs' Kubernetes pods run on this machine, where there is no cluster.

``python -m local_job_pods`` (``deploy_with_local_pods`` starts it, with this folder on its path)
runs the real deploy service (``modelyard_deploy.main.run``, its settings from ``MLREG_DEPLOY_*``)
with ``LocalJobPods`` where the Kubernetes API would be. Each pod of a job's rendered Job runs
here from its pod template, as the API server received it (the objects' JSON): its init
container, then its container, each with its command (``python`` being this interpreter) and its
environment (the values, the keys of the job's Secret, the pod's name), under its job's
ServiceAccount. An ``emptyDir`` volume is a
folder of the pod's, and a value under its mount path points there. Nothing of an image or a
security context is emulated: the processes run as this user, with this machine's PATH.

So the rendered spec is what runs: the real worker program, over real gRPC, to the real service.
The Job fails at its first failed pod (the rendered ``backoffLimit`` is 0). The objects a job was
created with are kept in ``RUN_DIR/pods/<job>/objects.json``, as ``kubectl get -o json`` would
show them (a test reads the Secret there to play a worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard_common.embedded.service import ServiceProcess
from modelyard_common.logs import configure_logging
from modelyard_common.settings import load_settings
from modelyard_deploy.main import run
from modelyard_deploy.runtimes.kubernetes import to_dict
from modelyard_deploy.runtimes.kubernetes_jobs import JobObjects, JobPodsStatus
from modelyard_deploy.runtimes.process import last_log_line
from modelyard_deploy.settings import DeploySettings

STOP_GRACE_SECONDS = 5.0


def deploy_with_local_pods(data: Path, settings: dict[str, str]) -> ServiceProcess:
    """A deploy service (not started yet) with ``settings`` (a deploy_config's), running jobs on
    the kubernetes runtime with their pods here, on a free port that the pods are told."""
    with socket.socket() as probe:  # the pods are rendered with the port before it listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubernetes = {
        "port": str(port),
        "jobs_runtime": "kubernetes",
        "kubernetes_worker_addr": f"127.0.0.1:{port}",
        "kubernetes_namespace": "modelyard-inference",
        "jobs_worker_start_seconds": "60",
    }
    return _PodsDeploy("deploy", __name__, data, {**settings, **kubernetes})


class _PodsDeploy(ServiceProcess):
    """``python -m local_job_pods``, which needs this folder on its path."""

    def _popen_options(self) -> dict[str, Any]:
        options = super()._popen_options()
        path = [str(Path(__file__).parent), *filter(None, [options["env"].get("PYTHONPATH")])]
        return {**options, "env": {**options["env"], "PYTHONPATH": os.pathsep.join(path)}}


@dataclass(eq=False)
class _Pod:
    name: str
    folder: Path
    process: asyncio.subprocess.Process | None = None
    failure: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class LocalJobPods:
    """``JobPods`` as processes of this machine, a folder per pod under ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._pods: dict[str, list[_Pod]] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    async def create(self, objects: JobObjects) -> None:
        leftover = self._pods.pop(objects.name, [])
        await asyncio.gather(*(_stop(pod) for pod in leftover))
        rendered = {kind: to_dict(getattr(objects, kind)) for kind in ("job", "secret", "service_account")}
        folder = self._root / objects.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "objects.json").write_text(json.dumps(rendered, indent=1))
        spec = rendered["job"]["spec"]
        assert "completions" not in spec, "a work queue: the pods end when the leader ends their streams"
        pods = [_Pod(f"{objects.name}-{n}", folder / f"pod-{n}") for n in range(spec["parallelism"])]
        for pod in pods:
            pod.task = asyncio.create_task(_run(pod, spec["template"]["spec"], rendered))
        self._pods[objects.name] = pods

    async def status(self, name: str) -> JobPodsStatus:
        pods = self._pods.get(name, [])
        failed = [pod.failure for pod in pods if pod.failure]
        running = [pod for pod in pods if pod.task is not None and not pod.task.done()]
        return JobPodsStatus(len(running), len(failed), f"BackoffLimitExceeded: {failed[0]}" if failed else "")

    async def delete(self, name: str) -> None:
        """Returns at once; the pods stop in the background (propagationPolicy: Background)."""
        for pod in self._pods.pop(name, []):
            stopping = asyncio.create_task(_stop(pod))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)


async def _run(pod: _Pod, spec: dict[str, Any], rendered: dict[str, Any]) -> None:
    """The pod's init containers, then its one container; ``failure`` says why one failed."""
    if spec["serviceAccountName"] != rendered["service_account"]["metadata"]["name"]:
        pod.failure = f"pod {pod.name}: no ServiceAccount {spec['serviceAccountName']!r}"
        return
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        mounts = {}
        for mount in container.get("volumeMounts", []):
            if "emptyDir" not in volumes[mount["name"]]:
                pod.failure = (
                    f"pod {pod.name}: volume {mount['name']!r} is not an emptyDir, which is all that runs here"
                )
                return
            mounts[mount["mountPath"]] = pod.folder / mount["name"]
            mounts[mount["mountPath"]].mkdir(parents=True, exist_ok=True)
        try:
            env = _environment(container, mounts, pod.name, rendered["secret"])
        except KeyError as exc:
            pod.failure = f"pod {pod.name}: container {container['name']}: CreateContainerConfigError: {exc}"
            return
        command = [sys.executable if container["command"][0] == "python" else container["command"][0]]
        log = pod.folder / f"{container['name']}.log"
        with log.open("ab") as output:
            pod.process = await asyncio.create_subprocess_exec(
                *command,
                *container["command"][1:],
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        code = await pod.process.wait()
        if code != 0:
            pod.failure = f"pod {pod.name}: container {container['name']} exited with code {code}: {last_log_line(log)}"
            return


def _environment(
    container: dict[str, Any], mounts: dict[str, Path], pod: str, secret: dict[str, Any]
) -> dict[str, str]:
    """The container's variables: values (paths under a mount point moved to its folder), the
    Secret's keys it refers to, the pod's name; and what its image would set (PATH, HOME)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(mounts.get("/tmp", "/tmp")), "LANG": "C.UTF-8"}
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            env[name] = _moved(variable["value"], mounts)
        elif "secretKeyRef" in variable["valueFrom"]:
            reference = variable["valueFrom"]["secretKeyRef"]
            if reference["name"] != secret["metadata"]["name"]:
                raise KeyError(f"secret {reference['name']!r} not found")
            env[name] = secret["stringData"][reference["key"]]
        else:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", variable
            env[name] = pod
    return env


def _moved(value: str, mounts: dict[str, Path]) -> str:
    for path, folder in mounts.items():
        if value == path or value.startswith(f"{path}/"):
            return str(folder) + value[len(path) :]
    return value


async def _stop(pod: _Pod) -> None:
    """SIGTERM, then SIGKILL after the grace period, to the pod's process (group)."""
    if pod.task is not None:
        pod.task.cancel()
    process = pod.process
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def main() -> None:
    settings = load_settings(DeploySettings)
    configure_logging(settings.log_level, settings.log_format)
    sys.exit(asyncio.run(run(settings, LocalJobPods(settings.run_dir / "pods"))))


if __name__ == "__main__":
    main()
