"""ScoringService over gRPC: unpack the request, call one scoring use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc

from modelyard.v1 import scoring_pb2, scoring_pb2_grpc
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.api.scoring_convert import (
    claimed_to_pb,
    definition_from_pb,
    definition_to_pb,
    metrics_from_pb,
    run_state_from_pb,
    run_to_pb,
    stages_from_pb,
    target_from_pb,
    test_to_pb,
)
from modelyard_metadata.domain.scoring import ScoringTests
from modelyard_metadata.domain.scoring_runs import ScoringRuns

__all__ = ["ScoringServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, tests: ScoringTests, runs: ScoringRuns, callers: Callers) -> None:
        self._tests = tests
        self._runs = runs
        self._callers = callers

    async def SetScoreDefinition(
        self, request: scoring_pb2.SetScoreDefinitionRequest, context: Context
    ) -> scoring_pb2.SetScoreDefinitionResponse:
        definition = await self._tests.set_definition(
            await self._callers.current(), definition_from_pb(request.definition), request.reason
        )
        return scoring_pb2.SetScoreDefinitionResponse(definition=definition_to_pb(definition))

    async def GetScoreDefinition(
        self, request: scoring_pb2.GetScoreDefinitionRequest, context: Context
    ) -> scoring_pb2.GetScoreDefinitionResponse:
        definition = await self._tests.get_definition(await self._callers.current(), request.model)
        return scoring_pb2.GetScoreDefinitionResponse(definition=definition_to_pb(definition))

    async def CreateScoringTest(
        self, request: scoring_pb2.CreateScoringTestRequest, context: Context
    ) -> scoring_pb2.CreateScoringTestResponse:
        test_pb = request.test
        test = await self._tests.create(
            await self._callers.current(),
            test_pb.model,
            test_pb.name,
            target_from_pb(test_pb),
            test_pb.dataset,
            test_pb.schedule,
            stages_from_pb("test.required_for", list(test_pb.required_for)),
            test_pb.description,
            trusted_types=list(test_pb.trusted_types),
        )
        return scoring_pb2.CreateScoringTestResponse(test=test_to_pb(test))

    async def GetScoringTest(
        self, request: scoring_pb2.GetScoringTestRequest, context: Context
    ) -> scoring_pb2.GetScoringTestResponse:
        test = await self._tests.get(await self._callers.current(), request.id)
        return scoring_pb2.GetScoringTestResponse(test=test_to_pb(test))

    async def ListScoringTests(
        self, request: scoring_pb2.ListScoringTestsRequest, context: Context
    ) -> scoring_pb2.ListScoringTestsResponse:
        tests = await self._tests.list_tests(await self._callers.current(), request.parent)
        return scoring_pb2.ListScoringTestsResponse(tests=[test_to_pb(t) for t in tests])

    async def UpdateScoringTest(
        self, request: scoring_pb2.UpdateScoringTestRequest, context: Context
    ) -> scoring_pb2.UpdateScoringTestResponse:
        test = await self._tests.update(
            await self._callers.current(),
            request.id,
            request.reason,
            schedule=request.schedule if request.HasField("schedule") else None,
            active=request.active if request.HasField("active") else None,
            description=request.description if request.HasField("description") else None,
            required_for=stages_from_pb("required_for", list(request.required_for.stages))
            if request.HasField("required_for")
            else None,
            dataset=request.dataset if request.HasField("dataset") else None,
            trusted_types=list(request.trusted_types.types) if request.HasField("trusted_types") else None,
        )
        return scoring_pb2.UpdateScoringTestResponse(test=test_to_pb(test))

    async def DeleteScoringTest(
        self, request: scoring_pb2.DeleteScoringTestRequest, context: Context
    ) -> scoring_pb2.DeleteScoringTestResponse:
        await self._tests.delete(await self._callers.current(), request.id, request.reason)
        return scoring_pb2.DeleteScoringTestResponse()

    async def RunScoringTest(
        self, request: scoring_pb2.RunScoringTestRequest, context: Context
    ) -> scoring_pb2.RunScoringTestResponse:
        run = await self._tests.run(await self._callers.current(), request.test_id, request.version)
        return scoring_pb2.RunScoringTestResponse(run=run_to_pb(run))

    async def GetScoringRun(
        self, request: scoring_pb2.GetScoringRunRequest, context: Context
    ) -> scoring_pb2.GetScoringRunResponse:
        run = await self._runs.get(await self._callers.current(), request.id)
        return scoring_pb2.GetScoringRunResponse(run=run_to_pb(run))

    async def ListScoringRuns(
        self, request: scoring_pb2.ListScoringRunsRequest, context: Context
    ) -> scoring_pb2.ListScoringRunsResponse:
        runs, token = await self._runs.list_runs(
            await self._callers.current(),
            request.test_id,
            request.model_version,
            run_state_from_pb(request.state),
            request.page_size,
            request.page_token,
        )
        return scoring_pb2.ListScoringRunsResponse(runs=[run_to_pb(r) for r in runs], next_page_token=token)

    async def ClaimScoringRuns(
        self, request: scoring_pb2.ClaimScoringRunsRequest, context: Context
    ) -> scoring_pb2.ClaimScoringRunsResponse:
        claimed = await self._runs.claim(
            await self._callers.current(), request.runner, request.max_runs, request.lease_seconds
        )
        return scoring_pb2.ClaimScoringRunsResponse(runs=[claimed_to_pb(c) for c in claimed])

    async def RecordScoringResult(
        self, request: scoring_pb2.RecordScoringResultRequest, context: Context
    ) -> scoring_pb2.RecordScoringResultResponse:
        run = await self._runs.record(
            await self._callers.current(),
            request.run_id,
            request.runner,
            request.attempt,
            metrics_from_pb(list(request.metrics)),
            request.rows,
            request.duration_seconds,
            request.error,
        )
        return scoring_pb2.RecordScoringResultResponse(run=run_to_pb(run))
