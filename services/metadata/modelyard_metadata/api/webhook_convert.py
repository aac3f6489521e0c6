"""Webhook entities -> their proto messages."""

from __future__ import annotations

from modelyard._wire import time_to_pb
from modelyard.v1 import webhooks_pb2
from modelyard_metadata.domain.webhook_entities import Delivery, Subscription

__all__ = ["delivery_to_pb", "subscription_to_pb"]


def subscription_to_pb(subscription: Subscription) -> webhooks_pb2.WebhookSubscription:
    message = webhooks_pb2.WebhookSubscription(
        id=subscription.id,
        project=subscription.project,
        url=subscription.url,
        kinds=subscription.kinds,
        description=subscription.description,
        active=subscription.active,
        failing=subscription.failing_since is not None,
        created_by=subscription.created_by,
        create_time=time_to_pb(subscription.created_at),
        backlog=subscription.backlog,
    )
    if subscription.previous_secret_expires_at is not None:
        message.previous_secret_expires_at.CopyFrom(time_to_pb(subscription.previous_secret_expires_at))
    return message


def delivery_to_pb(delivery: Delivery) -> webhooks_pb2.WebhookDelivery:
    message = webhooks_pb2.WebhookDelivery(
        id=str(delivery.id),
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        kind=delivery.kind,
        state=delivery.state,
        attempts=delivery.attempts,
        response_code=delivery.response_code,
        error=delivery.error,
        create_time=time_to_pb(delivery.created_at),
    )
    if delivery.last_attempt_at is not None:
        message.last_attempt_time.CopyFrom(time_to_pb(delivery.last_attempt_at))
    if delivery.next_attempt_at is not None:
        message.next_attempt_time.CopyFrom(time_to_pb(delivery.next_attempt_at))
    return message
