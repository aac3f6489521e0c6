"""WebhookService over gRPC: unpack the request, call one Webhooks use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc

from modelyard.v1 import webhooks_pb2, webhooks_pb2_grpc
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.api.webhook_convert import delivery_to_pb, subscription_to_pb
from modelyard_metadata.domain.webhooks import Webhooks

__all__ = ["WebhookServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    def __init__(self, webhooks: Webhooks, callers: Callers) -> None:
        self._webhooks = webhooks
        self._callers = callers

    async def CreateSubscription(
        self, request: webhooks_pb2.CreateSubscriptionRequest, context: Context
    ) -> webhooks_pb2.CreateSubscriptionResponse:
        subscription, secret = await self._webhooks.create(
            await self._callers.current(), request.project, request.url, request.kinds, request.description
        )
        return webhooks_pb2.CreateSubscriptionResponse(subscription=subscription_to_pb(subscription), secret=secret)

    async def GetSubscription(
        self, request: webhooks_pb2.GetSubscriptionRequest, context: Context
    ) -> webhooks_pb2.GetSubscriptionResponse:
        subscription = await self._webhooks.get(await self._callers.current(), request.id)
        return webhooks_pb2.GetSubscriptionResponse(subscription=subscription_to_pb(subscription))

    async def ListSubscriptions(
        self, request: webhooks_pb2.ListSubscriptionsRequest, context: Context
    ) -> webhooks_pb2.ListSubscriptionsResponse:
        found = await self._webhooks.list_subscriptions(await self._callers.current(), request.project)
        return webhooks_pb2.ListSubscriptionsResponse(subscriptions=[subscription_to_pb(s) for s in found])

    async def UpdateSubscription(
        self, request: webhooks_pb2.UpdateSubscriptionRequest, context: Context
    ) -> webhooks_pb2.UpdateSubscriptionResponse:
        subscription = await self._webhooks.update(
            await self._callers.current(),
            request.id,
            url=request.url if request.HasField("url") else None,
            kinds=request.kinds.kinds if request.HasField("kinds") else None,
            active=request.active if request.HasField("active") else None,
            description=request.description if request.HasField("description") else None,
        )
        return webhooks_pb2.UpdateSubscriptionResponse(subscription=subscription_to_pb(subscription))

    async def DeleteSubscription(
        self, request: webhooks_pb2.DeleteSubscriptionRequest, context: Context
    ) -> webhooks_pb2.DeleteSubscriptionResponse:
        await self._webhooks.delete(await self._callers.current(), request.id)
        return webhooks_pb2.DeleteSubscriptionResponse()

    async def RotateSecret(
        self, request: webhooks_pb2.RotateSecretRequest, context: Context
    ) -> webhooks_pb2.RotateSecretResponse:
        subscription, secret = await self._webhooks.rotate_secret(await self._callers.current(), request.id)
        return webhooks_pb2.RotateSecretResponse(subscription=subscription_to_pb(subscription), secret=secret)

    async def ListDeliveries(
        self, request: webhooks_pb2.ListDeliveriesRequest, context: Context
    ) -> webhooks_pb2.ListDeliveriesResponse:
        deliveries, token = await self._webhooks.deliveries(
            await self._callers.current(), request.subscription_id, request.page_size, request.page_token
        )
        return webhooks_pb2.ListDeliveriesResponse(
            deliveries=[delivery_to_pb(d) for d in deliveries], next_page_token=token
        )

    async def Redeliver(
        self, request: webhooks_pb2.RedeliverRequest, context: Context
    ) -> webhooks_pb2.RedeliverResponse:
        delivery = await self._webhooks.redeliver(
            await self._callers.current(), request.subscription_id, request.event_id
        )
        return webhooks_pb2.RedeliverResponse(delivery=delivery_to_pb(delivery))

    async def Ping(self, request: webhooks_pb2.PingRequest, context: Context) -> webhooks_pb2.PingResponse:
        attempt = await self._webhooks.ping(await self._callers.current(), request.id)
        return webhooks_pb2.PingResponse(
            response_code=attempt.response_code, error=attempt.error, seconds=attempt.seconds
        )
