"""``Client`` and ``AsyncClient``: the calls of each service (``_metadata_calls``,
``_deploy_calls``; the registry's transfers in ``_transfer``) on one connection (``_connection``
settings, ``_transport`` channels), plus what only the blocking client does: artifact transfers,
waiting for a deployment, and predictions on its replicas."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack, final

from modelyard._calls import AsyncRunner, BlockingRunner, Stream
from modelyard._connection import DEFAULT_TIMEOUT, DEPLOY, JOBS, REGISTRY, UNKNOWN_PLATFORM, Settings
from modelyard._convert_jobs import job_of
from modelyard._dataset_calls import DatasetCalls
from modelyard._dataset_transfer import DatasetFiles
from modelyard._dataset_types import DatasetFormat, DatasetVersion
from modelyard._deploy_calls import DeployCalls, deployment_of
from modelyard._files import Progress
from modelyard._job_calls import JobCalls
from modelyard._job_types import Job
from modelyard._metadata_calls import MetadataCalls
from modelyard._scoring_calls import ScoringCalls
from modelyard._scoring_types import ScoringRun
from modelyard._tls import TLSConfig
from modelyard._transfer import Transfers
from modelyard._transport import AsyncTransport, BlockingTransport
from modelyard._types import (
    ArtifactStatus,
    Deployment,
    DeploymentRuntime,
    DeploymentState,
    ModelVersion,
    Signature,
    VersionFields,
)
from modelyard._webhook_calls import WebhookCalls
from modelyard.errors import AlreadyExistsError, DeadlineExceededError, FailedPreconditionError, NotFoundError
from modelyard.v1 import deploy_pb2, jobs_pb2

if TYPE_CHECKING:
    import pandas
    from numpy.typing import ArrayLike

    from modelyard._inference import DeploymentRouter
    from modelyard.predictors import Arrays

__all__ = ["AsyncClient", "Client", "connect", "connect_async"]


class _Settled:
    """What both clients show of their settings (read-only; the token never)."""

    _settings: Settings

    @property
    def target(self) -> str:
        """The metadata service's "host:port"."""
        return self._settings.target

    @property
    def actor(self) -> str:
        return self._settings.actor

    @property
    def timeout(self) -> float | None:
        return self._settings.timeout

    @property
    def tls(self) -> TLSConfig | None:
        return self._settings.tls


def _still(run: ScoringRun, timeout: float) -> DeadlineExceededError:
    return DeadlineExceededError(f"scoring run {run.id} is {run.state} after {timeout:g} s, not finished")


def _watch_job(job_id: str, timeout: float) -> Stream[Job]:
    """WatchJob, for ``timeout`` seconds at most (``wait_job``)."""
    return Stream("WatchJob", jobs_pb2.WatchJobRequest(id=job_id), job_of, JOBS, timeout)


def _job_late(job_id: str, last: Job | None, timeout: float, exc: DeadlineExceededError) -> DeadlineExceededError:
    now = f"is {last.state}" if last is not None else "was not read"
    return DeadlineExceededError(f"job {job_id} {now} after {timeout:g} s, not finished", request_id=exc.request_id)


def _job_unfinished(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id}: its watch ended before it finished")


@final
class Client(
    _Settled,
    MetadataCalls[BlockingRunner],
    DatasetCalls[BlockingRunner],
    DeployCalls[BlockingRunner],
    WebhookCalls[BlockingRunner],
    ScoringCalls[BlockingRunner],
    JobCalls[BlockingRunner],
):
    """Blocking client of the metadata service, and of the registry for artifact bytes
    (``push``, ``pull``, ``artifact``, ``abort_upload``). Open with ``modelyard.connect()``;
    close with ``close()`` or use as a context manager. Safe to share between threads. Channels
    connect on the first call, not here; the registry's and the deploy service's are made on the
    first call to them, at the address given, else at the one the metadata service gives
    (``platform_info``, asked once), else at the default."""

    def __init__(
        self,
        target: str | None = None,
        *,
        registry: str | None = None,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> None:
        self._settings = Settings.of(
            target,
            registry=registry,
            deploy=deploy,
            actor=actor,
            token=token,
            timeout=timeout,
            tls=tls,
            settings_prefix=settings_prefix,
        )
        transport = self._runner = self._transport = BlockingTransport(self._settings)
        self._transfers = Transfers(
            lambda: transport.stub(REGISTRY),
            self,
            self._settings.headers,
            lambda exc, request_id: transport.error(exc, request_id, REGISTRY),
            self._settings.timeout,
        )
        self._datasets = DatasetFiles(self._transfers, self)
        self._router_lock = threading.Lock()
        self._router_: DeploymentRouter | None = None

    def __repr__(self) -> str:
        # Never asks the metadata service: an address not known yet shows as None.
        platform = self._transport.platform or UNKNOWN_PLATFORM
        registry = self._settings.registry or platform.registry or None
        deploy = self._settings.deploy or platform.deploy or None
        return (
            f"Client(target={self.target!r}, registry={registry!r}, deploy={deploy!r}, "
            f"actor={self.actor!r}, timeout={self.timeout!r})"
        )

    @property
    def registry(self) -> str:
        """The registry service's "host:port": as given (``registry`` argument, else
        $MODELYARD_REGISTRY_ADDR), else as the metadata service says (asked on first use), else
        127.0.0.1:7411."""
        return self._transport.address(REGISTRY)

    @property
    def deploy_target(self) -> str:
        """The deploy service's "host:port": as given (``deploy`` argument, else
        $MODELYARD_DEPLOY_ADDR), else as the metadata service says (asked on first use), else
        127.0.0.1:7412."""
        return self._transport.address(DEPLOY)

    def close(self) -> None:
        """Closes the channels; calls made afterwards fail."""
        self._transport.close()
        with self._router_lock:
            if self._router_ is not None:
                self._router_.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _router(self) -> DeploymentRouter:
        """Made on first use, with the runtime (numpy) it needs: metadata-only scripts and the
        command line start without importing it (hence the import here, not at the top)."""
        from modelyard._inference import DeploymentRouter

        with self._router_lock:
            if self._router_ is None:
                self._router_ = DeploymentRouter(self.get_deployment, self.timeout, self.tls)
            return self._router_

    def deploy(
        self,
        name: str,
        reference: str,
        *,
        replicas: int | None = None,
        runtime: DeploymentRuntime | str | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> Deployment:
        """Serves version ``reference`` ("p/m:3", "p/m@alias", "p/m": resolved now) as deployment
        ``name``, as ``modelyard deploy`` does: creates it when there is none (``replicas``
        default to 1; ``runtime`` to the service's), else rolls the existing one forward to
        ``reference`` (``replicas`` kept unless given; ``runtime`` ignored; ``reason`` recorded
        with the new revision), the new replicas ready before the old ones stop. Returns at once;
        see ``wait_deployment`` / ``watch_deployment``. ``create_deployment`` only creates.

        ``trusted_types``: types the version's skops file may hold beyond those skops trusts by
        default ("sklearn.pipeline.Pipeline", as the load error names them); None: none when
        created, kept when updated. Trust only files of authors you trust."""
        try:
            created = 1 if replicas is None else replicas
            return self.create_deployment(
                name, reference, replicas=created, runtime=runtime, trusted_types=trusted_types or ()
            )
        except AlreadyExistsError:
            return self.update_deployment(
                name, reference=reference, replicas=replicas, reason=reason, trusted_types=trusted_types
            )

    # Artifacts (registry service)

    def push(
        self,
        target: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        **fields: Unpack[VersionFields],
    ) -> ModelVersion:
        """Uploads a file or a model directory as a version's artifact and commits it: the
        version is READY when this returns.

        Every file is hashed first, then streamed from disk 1 MiB at a time; an interrupted
        upload (cut connection, registry restart, another stream holding the file) waits and
        resumes from the offset the registry holds durable. Pushing to "PROJECT/MODEL" content
        that a READY version of the model already holds (the same paths and SHA-256s, the latest
        version or an older one) registers nothing and returns that version.

        Args:
            target: "PROJECT/MODEL" registers a new version with ``fields`` (as
                ``create_version``; the model too if it does not exist yet, in an existing
                project), unless the latest READY version has exactly these files:
                then that version is returned, whatever ``fields`` say. "PROJECT/MODEL:N" (or
                "@ALIAS") fills that PENDING_UPLOAD version; a READY one is returned as is if it
                has exactly these files, else FailedPreconditionError.
            path: A file (the artifact is that file, under its own name) or a directory (every
                regular file under it, at its relative POSIX path).
            progress: Called with a ``TransferProgress`` as files are hashed and sent, at most
                once per 1 MiB chunk, possibly from a gRPC thread.
            **fields: Version fields for a new version; only with "PROJECT/MODEL".

        Returns:
            The READY version, as ``get_version`` reads it.

        Raises:
            DataLossError: The bytes read did not match the digest computed before sending
                (the file changed meanwhile).
        """
        return self._transfers.push(target, path, progress=progress, **fields)

    def pull(self, reference: str, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        """Downloads every file of a READY version into directory ``dest`` (created if missing),
        each at ``dest/<path>``, and returns ``dest``.

        Files already there with the right size and SHA-256 are kept. Each other file is written
        to ``<name>.part`` beside it, resumed after a cut (and by a later pull), verified, then
        renamed into place: a file at its final name is always complete. FailedPreconditionError
        when the version is not READY; DataLossError (and the ``.part`` deleted) when the bytes
        do not match the registry's digest.
        """
        return self._transfers.pull(reference, dest, progress=progress)

    def artifact(self, reference: str) -> ArtifactStatus:
        """Where a version's artifact stands: committed files, or for a PENDING_UPLOAD version
        the files uploaded so far and the uploads in progress."""
        return self._transfers.stat(reference)

    def abort_upload(self, reference: str, reason: str = "") -> None:
        """Gives up on a PENDING_UPLOAD version's upload: the version becomes FAILED."""
        self._transfers.abort_upload(reference, reason)

    # Datasets (their bytes: the registry service)

    def push_dataset(
        self,
        dataset: str,
        path: str | os.PathLike[str],
        *,
        format: DatasetFormat | str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        """Registers a new version of ``dataset`` ("project/dataset") holding the Parquet or CSV
        file ``path`` (``format``: from its suffix unless given), uploads it as ``push`` does and
        returns it READY, with the columns and row count the platform read from it.

        Raises:
            InvalidArgumentError: The file is not valid Parquet or CSV; the version is FAILED.
        """
        return self._datasets.push(dataset, path, format=format, description=description, tags=tags, progress=progress)

    def pull_dataset(self, reference: str, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        """Downloads the file of a READY dataset version ("p/d:3", or "p/d": the latest) into
        directory ``dest``, as ``pull`` does, and returns the file's path."""
        return self._datasets.pull(reference, dest, progress=progress)

    def load_dataset(self, reference: str) -> pandas.DataFrame:
        """A READY dataset version as a pandas DataFrame (needs ``modelyard[datasets]``)."""
        return self._datasets.load(reference)

    def wait_deployment(
        self, name: str, state: DeploymentState | str = DeploymentState.AVAILABLE, *, timeout: float = 300.0
    ) -> Deployment:
        """Watches deployment ``name`` until it is in ``state`` and returns it.

        Raises:
            FailedPreconditionError: It became FAILED while another state was awaited (the
                message is its status message).
            DeadlineExceededError: ``timeout`` seconds passed first.
            NotFoundError: It does not exist, or was deleted meanwhile.
        """
        wanted = DeploymentState.parse(state)
        request = deploy_pb2.WatchDeploymentRequest(name=name)
        last: Deployment | None = None
        try:
            for last in self._transport.iterate(Stream("WatchDeployment", request, deployment_of, DEPLOY, timeout)):
                if last.state is wanted:
                    return last
                if last.state is DeploymentState.FAILED:
                    raise FailedPreconditionError(f"deployment {name} is FAILED: {last.status_message}")
        except DeadlineExceededError as exc:
            now = f"is {last.state}" if last is not None else "was not read"
            raise DeadlineExceededError(
                f"deployment {name} {now} after {timeout:g} s, not {wanted}", request_id=exc.request_id
            ) from exc
        raise NotFoundError(f"deployment {name} was deleted while waiting for it to be {wanted}")

    def wait_scoring_run(self, run_id: str, timeout: float = 300.0, *, poll: float = 0.5) -> ScoringRun:
        """Reads scoring run ``run_id`` every ``poll`` seconds until it is PASSED, FAILED or
        ERROR, and returns it.

        Raises:
            DeadlineExceededError: ``timeout`` seconds passed first (the message says its state).
        """
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_scoring_run(run_id)
            left = deadline - time.monotonic()
            if run.state.finished:
                return run
            if left <= 0:
                raise _still(run, timeout)
            time.sleep(min(poll, left))

    def wait_job(self, job_id: str, *, timeout: float = 3600.0) -> Job:
        """Watches job ``job_id`` until it is finished (SUCCEEDED, FAILED or CANCELLED) and
        returns it; DeadlineExceededError when ``timeout`` seconds pass first."""
        last: Job | None = None
        try:
            for last in self._transport.iterate(_watch_job(job_id, timeout)):
                if last.state.finished:
                    return last
        except DeadlineExceededError as exc:
            raise _job_late(job_id, last, timeout, exc) from exc
        raise _job_unfinished(job_id)

    # Predictions (the deployment's inference servers)

    def predict(
        self, deployment: str, inputs: Mapping[str, ArrayLike], *, outputs: Sequence[str] | None = None
    ) -> Arrays:
        """Runs the model served by ``deployment`` on ``inputs`` (name -> array) and returns its
        outputs by name (those named in ``outputs``, else all), as numpy arrays (read-only).

            labels = client.predict("scorer", {"input": features})["predict"]

        The call goes to one of the deployment's ready replicas, round robin (their endpoints
        are read from the deploy service and kept a few seconds); one that is UNAVAILABLE is
        skipped for the next, and the endpoints read again. The arrays' dtypes give the OIP
        datatypes, which must be those of the model's inputs (see ``deployment_signature``).

        Raises:
            NotFoundError: No such deployment.
            UnavailableError: No replica is ready, or none answered.
            InvalidArgumentError: The model refused the inputs (the message names the tensor).
        """
        return self._router.infer(deployment, inputs, outputs)

    def deployment_signature(self, deployment: str) -> Signature:
        """The input and output tensors of the model ``deployment`` serves, as its inference
        servers declare them (OIP ModelMetadata)."""
        return self._router.signature(deployment)


@final
class AsyncClient(
    _Settled,
    MetadataCalls[AsyncRunner],
    DatasetCalls[AsyncRunner],
    DeployCalls[AsyncRunner],
    WebhookCalls[AsyncRunner],
    ScoringCalls[AsyncRunner],
    JobCalls[AsyncRunner],
):
    """Asyncio client of the metadata service: the same methods as ``Client``, awaited (and
    ``async for`` over the listing ones), except the artifact transfers (``push``, ``pull``...),
    which only ``Client`` has. Open with ``modelyard.aio.connect()``; the channels are made on
    first use, in the running event loop (the deploy service's at the address the metadata
    service gives when none was, as ``Client``)."""

    def __init__(
        self,
        target: str | None = None,
        *,
        registry: str | None = None,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> None:
        self._settings = Settings.of(
            target,
            registry=registry,
            deploy=deploy,
            actor=actor,
            token=token,
            timeout=timeout,
            tls=tls,
            settings_prefix=settings_prefix,
        )
        self._runner = self._transport = AsyncTransport(self._settings)

    def __repr__(self) -> str:
        return f"AsyncClient(target={self.target!r}, actor={self.actor!r}, timeout={self.timeout!r})"

    @property
    def deploy_target(self) -> str | None:
        """The deploy service's "host:port": as given (``deploy`` argument, else
        $MODELYARD_DEPLOY_ADDR), else as found on the first deploy call (the metadata service's
        answer, else 127.0.0.1:7412); None until then."""
        return self._transport.known(DEPLOY)

    async def registry_address(self) -> str:
        """The registry service's "host:port", for a caller that streams artifact bytes itself:
        as given (``registry`` argument, else $MODELYARD_REGISTRY_ADDR), else as the metadata
        service says (asked once), else 127.0.0.1:7411."""
        return await self._transport.address(REGISTRY)

    async def deploy(
        self,
        name: str,
        reference: str,
        *,
        replicas: int | None = None,
        runtime: DeploymentRuntime | str | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> Deployment:
        """``Client.deploy``, awaited: creates deployment ``name`` or rolls it forward to ``reference``."""
        try:
            created = 1 if replicas is None else replicas
            return await self.create_deployment(
                name, reference, replicas=created, runtime=runtime, trusted_types=trusted_types or ()
            )
        except AlreadyExistsError:
            return await self.update_deployment(
                name, reference=reference, replicas=replicas, reason=reason, trusted_types=trusted_types
            )

    async def wait_scoring_run(self, run_id: str, timeout: float = 300.0, *, poll: float = 0.5) -> ScoringRun:
        """``Client.wait_scoring_run``, awaited."""
        deadline = time.monotonic() + timeout
        while True:
            run = await self.get_scoring_run(run_id)
            left = deadline - time.monotonic()
            if run.state.finished:
                return run
            if left <= 0:
                raise _still(run, timeout)
            await asyncio.sleep(min(poll, left))

    async def wait_job(self, job_id: str, *, timeout: float = 3600.0) -> Job:
        """``Client.wait_job``, awaited."""
        last: Job | None = None
        try:
            async for last in self._transport.iterate(_watch_job(job_id, timeout)):
                if last.state.finished:
                    return last
        except DeadlineExceededError as exc:
            raise _job_late(job_id, last, timeout, exc) from exc
        raise _job_unfinished(job_id)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def connect(
    target: str | None = None,
    *,
    registry: str | None = None,
    deploy: str | None = None,
    actor: str | None = None,
    token: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    tls: TLSConfig | None = None,
    settings_prefix: str = "",
) -> Client:
    """A blocking client of the metadata service and, for artifact bytes, of the registry.

    Args:
        target: Metadata service "host:port"; defaults to $MODELYARD_METADATA_ADDR, else
            127.0.0.1:7410.
        registry: Registry service "host:port"; defaults to $MODELYARD_REGISTRY_ADDR, else
            the address the metadata service gives (asked once, on the first transfer), else
            127.0.0.1:7411 (when the metadata service was not told it).
        deploy: Deploy service "host:port"; defaults to $MODELYARD_DEPLOY_ADDR, else the
            address the metadata service gives (on the first deploy call), else 127.0.0.1:7412.
        actor: Who the calls are made for (audit log); defaults to $MODELYARD_ACTOR, else the
            login name.
        token: Bearer token sent with every call to the metadata, registry and deploy services
            (``modelyard auth token create`` makes one); defaults to $MODELYARD_TOKEN, else
            none (for services with authentication off).
        timeout: Deadline of each call in seconds, retries included; None for none. Uploads
            and downloads themselves have none: a large file takes as long as it takes.
        tls: TLS (and the client certificate, for mTLS) of every channel, the inference
            servers' included; None for plaintext.
        settings_prefix: For a client inside a service: the prefix of that service's settings
            ("MLREG_REGISTRY_"), so that a service it cannot reach is reported with the setting
            that names its address (MLREG_REGISTRY_METADATA_ADDR), not a user's variable.
    """
    return Client(
        target,
        registry=registry,
        deploy=deploy,
        actor=actor,
        token=token,
        timeout=timeout,
        tls=tls,
        settings_prefix=settings_prefix,
    )


def connect_async(
    target: str | None = None,
    *,
    registry: str | None = None,
    deploy: str | None = None,
    actor: str | None = None,
    token: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    tls: TLSConfig | None = None,
    settings_prefix: str = "",
) -> AsyncClient:
    """An asyncio client of the metadata and deploy services; arguments as ``connect``."""
    return AsyncClient(
        target,
        registry=registry,
        deploy=deploy,
        actor=actor,
        token=token,
        timeout=timeout,
        tls=tls,
        settings_prefix=settings_prefix,
    )
