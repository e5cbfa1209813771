"""GET /metrics: Prometheus text that parses, whose figures move as a user's actions would
move them, and that only metrics_allow may read."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics import LATENCY_BUCKETS, add_observations
from tests import mediafiles
from tests.conftest import befriend, both_buses, connect, register
from tests.test_uploads import upload

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape by (name, labels); the parser raises on a malformed line."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http_client, base_url: str, **headers: str) -> Samples:
    response = await http_client.fetch(base_url + "/metrics", headers=headers or None)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(response.body.decode())


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@both_buses
@pytest.mark.gen_test
async def test_a_message_sent_and_acked_counts_in_frames_acks_and_latency(
    api, http_client, base_url, bus_kind
):
    alice, bob, carol = await register(api, "Alice"), await register(api, "Bob"), await register(api, "Carol")
    await befriend(api, alice, bob)
    a, b = await connect(base_url, alice), await connect(base_url, bob)
    before = await scrape(http_client, base_url)
    assert value(before, "chatd_sockets_open") == 2

    cmid = await a.send(cmd=10, dstid=bob.id, media=1, content="hello")
    assert (await a.next_frame())["cmd"] == 12
    assert (await b.next_message())["cmid"] == cmid
    after = await scrape(http_client, base_url)
    assert moved(before, after, "chatd_frames_in_total") == 1
    assert moved(before, after, "chatd_acks_total") == 1
    assert moved(before, after, "chatd_ack_seconds_count") == 1
    assert moved(before, after, "chatd_ack_seconds_bucket", le="+Inf") == 1
    assert moved(before, after, "chatd_ack_seconds_sum") > 0
    assert moved(before, after, "chatd_frames_out_total") == 2  # Alice's ack, Bob's message
    assert moved(before, after, "chatd_write_batch_messages_count") == 1
    # The bus lag is publish to receipt on Redis; the in-process bus has none to count.
    lag = moved(before, after, "chatd_bus_lag_seconds_count")
    assert lag == 0 if bus_kind == "memory" else lag >= 1
    assert value(after, "chatd_bus_up") == 1

    # Refused frames count by their cmd 13 code, and are no acks.
    await a.send(cmd=10, dstid=carol.id, media=1, content="not a friend")
    assert (await a.next_frame())["code"] == 403
    await a.send_raw("{not json")
    assert (await a.next_frame())["code"] == 400
    refused = await scrape(http_client, base_url)
    assert moved(after, refused, "chatd_errors_total", code="403", via="socket") == 1
    assert moved(after, refused, "chatd_errors_total", code="400", via="socket") == 1
    assert moved(after, refused, "chatd_frames_in_total") == 2
    assert moved(after, refused, "chatd_acks_total") == 0
    assert moved(after, refused, "chatd_frames_out_total") == 2  # the two cmd 13 frames

    a.close()
    b.close()


@pytest.mark.gen_test
async def test_http_errors_count_by_code(api, http_client, base_url):
    before = await scrape(http_client, base_url)
    status, _ = await api.call("/user/me")  # no token
    assert status == 401
    missing = await http_client.fetch(base_url + "/no/such/page", raise_error=False)
    assert missing.code == 404
    after = await scrape(http_client, base_url)
    assert moved(before, after, "chatd_errors_total", code="401", via="http") == 1
    assert moved(before, after, "chatd_errors_total", code="404", via="http") == 1


@pytest.mark.gen_test(timeout=60)
async def test_uploads_count_by_kind_and_outcome_with_their_processing_time(api, http_client, base_url):
    ann = await register(api, "Ann")
    before = await scrape(http_client, base_url)
    status, _ = await upload(http_client, base_url, ann.token, mediafiles.png_with_alpha())
    assert status == 200
    status, _ = await upload(http_client, base_url, ann.token, b"just some text\n" * 300)
    assert status == 415
    after = await scrape(http_client, base_url)
    assert moved(before, after, "chatd_uploads_total", kind="image", outcome="stored") == 1
    assert moved(before, after, "chatd_media_seconds_count", kind="image") == 1
    assert moved(before, after, "chatd_media_seconds_sum", kind="image") > 0
    # Refused on its first bytes, before its kind was known.
    assert moved(before, after, "chatd_uploads_total", kind="unknown", outcome="refused") == 1
    assert moved(before, after, "chatd_errors_total", code="415", via="http") == 1


@pytest.mark.gen_test
async def test_process_metrics_are_there_on_one_process(http_client, base_url):
    samples = await scrape(http_client, base_url)
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_open_fds") > 0
    assert any(name == "python_info" for name, _ in samples)


@pytest.mark.gen_test
async def test_only_metrics_allow_may_read_metrics(http_client, base_url):
    # The test client is on loopback, a trusted proxy by default: X-Real-IP names the client.
    outside = await http_client.fetch(
        base_url + "/metrics", headers={"X-Real-IP": "203.0.113.7"}, raise_error=False
    )
    assert outside.code == 403 and b"metrics_allow" in outside.body
    assert b"chatd_" not in outside.body


@pytest.mark.parametrize(
    "settings_overrides",
    [{"metrics_allow": ("127.0.0.1/32", "203.0.113.0/24")}, {"trusted_proxies": ()}],
    ids=["network-allowed", "untrusted-header-ignored"],
)
@pytest.mark.gen_test
async def test_an_allowed_network_reads_metrics_and_a_forged_header_changes_nothing(
    http_client, base_url, settings_overrides
):
    # Allowed by network; or, with no trusted proxies, the header is ignored and the
    # loopback peer is what counts.
    samples = await scrape(http_client, base_url, **{"X-Real-IP": "203.0.113.7"})
    assert ("chatd_sockets_open", frozenset()) in samples


def test_counted_observations_fold_into_a_histogram_as_observe_would():
    # server/metrics.py fills prometheus-client's per-bucket values directly (it has no
    # bulk observe): the text must be what observe() one by one gives.
    observed = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 7.5, 11.0, 120.0]
    one_by_one, folded = CollectorRegistry(), CollectorRegistry()
    expected = Histogram("lat", "x", registry=one_by_one, buckets=LATENCY_BUCKETS)
    for seconds in observed:
        expected.observe(seconds)
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    for seconds in observed:
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
    add_observations(Histogram("lat", "x", registry=folded, buckets=LATENCY_BUCKETS), counts, sum(observed))

    def without_created(registry: CollectorRegistry) -> Samples:
        return {k: v for k, v in parse(generate_latest(registry).decode()).items() if "created" not in k[0]}

    assert without_created(folded) == without_created(one_by_one)
    assert value(without_created(folded), "lat_bucket", le="0.0005") == 2  # le is inclusive
