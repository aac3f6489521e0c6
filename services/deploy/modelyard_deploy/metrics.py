"""The deploy service's own Prometheus metrics (RPC counts and latencies come from the interceptor)."""

from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import Counter, Gauge, Histogram

from modelyard_common.values import DeploymentState, ReplicaState
from modelyard_deploy.domain.job_entities import Job

__all__ = ["PrometheusJobObserver", "PrometheusObserver"]

LEADER = Gauge("modelyard_deploy_leader", "1 on the deploy service that runs the reconciler, 0 on the others")
DEPLOYMENTS = Gauge("modelyard_deploy_deployments", "Deployments, by state", ["state"])
REPLICAS = Gauge("modelyard_deploy_replicas", "Replicas, by state", ["state"])
RESTARTS = Counter("modelyard_deploy_replica_restarts_total", "Failed replicas the reconciler restarted")
ROLLOUT_SECONDS = Histogram(
    "modelyard_deploy_rollout_seconds",
    "Time from a new revision to all of its replicas ready",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)


class PrometheusObserver:
    """The reconciler's reports, as metrics (only the leader's reconciler reports)."""

    def leading(self, leading: bool) -> None:
        LEADER.set(1 if leading else 0)

    def restarted(self) -> None:
        RESTARTS.inc()

    def rolled_out(self, seconds: float) -> None:
        ROLLOUT_SECONDS.observe(seconds)

    def counted(self, deployments: Counts[DeploymentState], replicas: Counts[ReplicaState]) -> None:
        # UNSPECIFIED is the wire's "unset"; no deployment or replica is ever in it.
        for deployment_state in DeploymentState:
            if deployment_state is not DeploymentState.UNSPECIFIED:
                DEPLOYMENTS.labels(deployment_state.value).set(deployments[deployment_state])
        for replica_state in ReplicaState:
            if replica_state is not ReplicaState.UNSPECIFIED:
                REPLICAS.labels(replica_state.value).set(replicas[replica_state])


JOBS_FINISHED = Counter(
    "modelyard_deploy_jobs_finished_total", "Batch scoring jobs that finished, by final state", ["state"]
)
JOB_ROWS = Counter("modelyard_deploy_jobs_rows_scored_total", "Rows batch scoring jobs scored")
JOB_CHUNK_SECONDS = Histogram(
    "modelyard_deploy_jobs_chunk_seconds",
    "Time between two finished chunks of a batch scoring job (per job, with its workers in parallel)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


class PrometheusJobObserver:
    """The job runner's reports, as metrics (only the leader runs jobs)."""

    def chunk(self, rows: int, seconds: float) -> None:
        JOB_ROWS.inc(rows)
        JOB_CHUNK_SECONDS.observe(seconds)

    def finished(self, job: Job) -> None:
        JOBS_FINISHED.labels(job.state.value).inc()
