"""Composition root of the inference server: settings -> server -> model.

The server listens (and writes its ready file) at once, answering ServerLive; the model is then
fetched and loaded on a thread, and only then do health and ModelReady report it ready. A model
that cannot be loaded ends the process with exit code 3 and the reason on one log line.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from importlib.metadata import version as package_version

import modelyard
from modelyard.predictors import Predictor
from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_common.errors import ModelyardError
from modelyard_common.logs import configure_logging
from modelyard_common.server import ServiceBinding, serve
from modelyard_common.settings import load_settings
from modelyard_common.tls import client_tls
from modelyard_serving.api.servicer import InferenceServicer
from modelyard_serving.launch import WARM
from modelyard_serving.limits import MAX_INFER_REQUEST_BYTES, MAX_REQUEST_BYTES
from modelyard_serving.served import ServedModel
from modelyard_serving.settings import ServingSettings
from modelyard_serving.warm import take_assignment

__all__ = ["EXIT_MODEL_NOT_LOADED", "main", "run", "run_in_foreground"]

logger = logging.getLogger(__name__)

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
EXIT_MODEL_NOT_LOADED = 3


def _connect(settings: ServingSettings) -> modelyard.Client:
    return modelyard.connect(
        settings.metadata_addr,
        registry=settings.registry_addr,
        actor="modelyard-serving",
        tls=client_tls(settings),
        token=settings.token.get_secret_value() if settings.token else None,
        settings_prefix=settings.model_config["env_prefix"],
    )


def fetch_model(settings: ServingSettings) -> None:
    """Only fetches the version's files into the cache (an ensemble's members' too): what a
    Kubernetes pod's init container runs, so that the server finds them there; blocking."""
    with _connect(settings) as client:
        fetched = modelyard.fetch(settings.reference, client=client, cache_dir=settings.cache_dir)
    logger.info("fetched %s into %s", ", ".join(v.reference for v in fetched), settings.cache_dir)


def load_model(settings: ServingSettings) -> Predictor:
    """Fetches (through the cache) and loads the version to serve; blocking."""
    with _connect(settings) as client:
        return modelyard.load(
            settings.reference,
            client=client,
            cache_dir=settings.cache_dir,
            allow_pickle=settings.allow_pickle,
            trusted_types=settings.trusted_types,
        )


async def run(settings: ServingSettings) -> str | None:
    """Serves until SIGTERM; returns why the model could not be loaded, if it could not."""
    served = ServedModel(settings.served_name)
    servicer = InferenceServicer(served, package_version("modelyard-serving"))
    binding = ServiceBinding(
        SERVICE_NAME,
        lambda server: inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server),
        MAX_REQUEST_BYTES,
        {"ModelInfer": MAX_INFER_REQUEST_BYTES},
    )

    async def warm_up() -> None:
        started = time.perf_counter()
        predictor = await asyncio.to_thread(load_model, settings)
        served.loaded(predictor, time.perf_counter() - started)
        logger.info("loaded %s as %s", predictor.version.reference, served.name)

    try:
        await serve(settings, [binding], warm_up=warm_up)
    except ModelyardError as exc:
        return exc.message
    return None


def main() -> None:
    """``python -m modelyard_serving``: settings from MLREG_SERVING_* variables. With
    ``--fetch-only``, fetches the version into the cache and exits (0, or 3 with the reason).
    With ``--warm``, takes them from the assignment it waits for (``modelyard_serving.warm``)."""
    if sys.argv[1:] == [WARM] and not take_assignment():
        return
    settings = load_settings(ServingSettings)
    if sys.argv[1:] == ["--fetch-only"]:
        configure_logging(settings.log_level, settings.log_format)
        try:
            fetch_model(settings)
        except ModelyardError as exc:
            logger.error("cannot fetch %s: %s", settings.reference, " ".join(exc.message.split()))
            sys.exit(EXIT_MODEL_NOT_LOADED)
        return
    run_in_foreground(settings)


def run_in_foreground(settings: ServingSettings) -> None:
    """Logs to stderr and serves until SIGTERM or Ctrl-C; exits with code 3 when the model
    cannot be loaded."""
    configure_logging(settings.log_level, settings.log_format)
    reason = asyncio.run(run(settings))
    if reason is not None:
        logger.error("cannot serve %s: %s", settings.reference, " ".join(reason.split()))
        sys.exit(EXIT_MODEL_NOT_LOADED)


if __name__ == "__main__":
    main()
