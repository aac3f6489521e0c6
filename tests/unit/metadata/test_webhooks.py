"""Webhooks' pure parts: signatures, the retry schedule, kinds, allowed destinations."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from modelyard_metadata.domain.webhook_delivery import RetryPolicy, signature
from modelyard_metadata.domain.webhook_destinations import Destinations, parse_allowed_hosts
from modelyard_metadata.domain.webhook_entities import actions_of
from modelyard_metadata.storage.webhook_http import pinned


def test_the_signature_has_one_hmac_of_timestamp_and_body_per_secret() -> None:
    body = b'{"id":1}'
    header = signature(["new", "old"], 1700000000, body)
    t, *v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1 == [
        "v1=" + hmac.new(secret, b"1700000000." + body, hashlib.sha256).hexdigest() for secret in (b"new", b"old")
    ]


def test_retries_back_off_exponentially_up_to_the_max_then_fail() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=8)
    delays = [policy.delay(n) for n in range(1, 7)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.8 * ceiling <= delay <= ceiling
    assert [policy.failing(n) for n in range(1, 6)] == [False, False, False, True, True]


def test_no_kinds_subscribes_every_kinds_actions() -> None:
    everything = actions_of(())
    assert {"version.create", "version.ready", "version.stage", "alias.set", "alias.delete"} <= set(everything)
    assert actions_of(("alias.moved",)) == ["alias.delete", "alias.set"]
    assert {"scoring_test.passed", "scoring_test.failed", "scoring_test.error"} <= set(everything)
    assert actions_of(("scoring_test.failed",)) == ["scoring_test.failed"]


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://10.1.2.3/x", "'10.1.2.3' resolves to 10.1.2.3, which webhook_allowed_hosts does not allow"),
        ("http://[::1]:8080/x", "'::1' resolves to ::1, which webhook_allowed_hosts does not allow"),
        (
            "https://user:pw@93.184.215.14/",
            "must not carry a user name or password (the signature authenticates deliveries)",
        ),
        ("file:///etc/passwd", "'file:///etc/passwd' is not an http:// or https:// URL with a host"),
        ("http://127.0.0.1:9/x", ""),
        ("https://93.184.215.14/x", ""),
        ("https://a.hooks.example.com/x", ""),
    ],
)
async def test_destinations_refuse_what_is_not_public_or_listed(url: str, refusal: str) -> None:
    destinations = Destinations(["127.0.0.0/8", "*.hooks.example.com"])
    assert await destinations.refusal(url) == refusal


def test_allowed_hosts_name_a_bad_entry() -> None:
    with pytest.raises(ValueError, match="'bad host!' is neither a CIDR nor a host name"):
        parse_allowed_hosts(["10.0.0.0/8", "bad host!"])


async def test_without_public_addresses_only_the_listed_ones_are_allowed() -> None:
    closed = Destinations(["127.0.0.1/32"], allow_public=False)
    assert await closed.refusal("http://127.0.0.1:9/x") == ""
    assert await closed.refusal("https://93.184.215.14/x") == (
        "'93.184.215.14' resolves to 93.184.215.14, which webhook_allowed_hosts does not allow"
    )


def test_a_pinned_request_goes_to_the_checked_address_under_the_urls_name() -> None:
    url, headers, extensions = pinned("https://hooks.example.com:8443/in?x=1", ipaddress.ip_address("2001:db8::7"))
    assert (str(url), headers, extensions) == (
        "https://[2001:db8::7]:8443/in?x=1",
        {"host": "hooks.example.com:8443"},
        {"sni_hostname": "hooks.example.com"},
    )
    url, headers, extensions = pinned("http://hooks.example.com/in", ipaddress.ip_address("93.184.215.14"))
    assert (str(url), headers, extensions) == ("http://93.184.215.14/in", {"host": "hooks.example.com"}, {})
