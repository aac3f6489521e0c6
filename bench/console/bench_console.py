"""Benchmark of the web console: the server time of its pages, against the gRPC calls they make.

Usage::

    .venv/bin/python bench/console/bench_console.py            # ~3 minutes on 2 cores
    .venv/bin/python bench/console/bench_console.py --quick    # ~1 minute: 5,000 versions, 1 s per case
    ... --json out.json --profile DIR                           # figures as JSON, py-spy of the console

Starts Postgres, Redis, the metadata service (authentication on, its Redis cache), the deploy
service (the version page lists the deployments of its project there) and the console, in a
temporary folder. Seeds about 100k versions: a catalog project of 1,000 models with 3 versions
each (one in four aliased champion) and 1,000 models of 97 versions in four other projects, COPY'd
straight into the metadata tables (bench/metadata/_seed.py); then, through the services, a user
who may read every project, and the version whose page is timed: 4 metrics with 20 points of
history each, a 30-feature importance, two lineage parents, an artifact, stage changes, an alias
and a consumer.

Each page is timed as a signed-in browser gets it (httpx, one keep-alive connection per
browser, its session cookie), one browser at a time and then several at once, each case a warm-up
then a fixed duration. Its baseline is the very gRPC calls that page makes (the same calls in the
same order and concurrency) made straight with ``modelyard.aio`` from this process, as the same
user: the ratio is what the console adds (its rendering, HTTP and session lookup) on top of the
services. The services' RPC counters confirm that page and baseline make the same calls.

Everything shares one machine; the CPU table says who used how much per request and how much CPU
processes outside the benchmark took meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import modelyard.aio
from bench._cases import Cases, Result
from bench._load import drive
from bench._profile import Profiler
from bench._report import print_targets, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import processes
from bench.console._pages import Page, pages, rpc_counts, signed_in
from bench.console._platform import Platform
from bench.console._seed import CATALOG, SCALARS, seed_console
from bench.console._tables import print_tables, targets
from bench.metadata._seed import PROJECTS

LAYERS = (
    ("templates (compiled Jinja2)", ("templates/",)),
    ("jinja2 runtime, markupsafe", ("jinja2/", "markupsafe/")),
    ("charts (charts.py)", ("modelyard_console/charts.py",)),
    ("console pages", ("modelyard_console/pages/",)),
    ("console app, sessions", ("modelyard_console/",)),
    ("SDK conversions (modelyard/_convert*)", ("modelyard/_convert",)),
    ("SDK calls", ("modelyard/",)),
    ("protobuf runtime", ("google/protobuf/",)),
    ("redis-py client", ("redis/",)),
    ("starlette", ("starlette/", "anyio/")),
    ("uvicorn, h11, httptools", ("uvicorn/", "h11/", "httptools/")),
    ("grpc Python layer", ("grpc/",)),
    ("grpc poller thread (C)", ("threading.py",)),
    ("event loop + C callbacks (grpc core, sockets)", ("asyncio/", "selectors.py")),
)


async def same_calls(page: Page, browser: httpx.AsyncClient, client: modelyard.aio.AsyncClient, urls: list[str]) -> int:
    """The RPCs one request of ``page`` makes, once it is checked that its baseline makes the same."""
    async with httpx.AsyncClient(timeout=10) as scraper:
        before = await rpc_counts(scraper, urls)
        page.check(await browser.get(page.path))
        middle = await rpc_counts(scraper, urls)
        await page.calls(client)
        after = await rpc_counts(scraper, urls)
    served, made = middle - before, after - middle
    if served != made:
        raise AssertionError(f"{page.path} made {dict(served)}, its baseline {dict(made)}")
    return sum(served.values())


async def run_bench(args: argparse.Namespace, platform: Platform, info: dict[str, Any]) -> dict[str, Any]:
    print(f"seeding {args.versions:,} versions, {args.models:,} models in project {CATALOG} ...", flush=True)
    async with (
        platform.client(platform.tokens["admin"], "bench") as admin,
        platform.client(platform.tokens["registry"], "modelyard-registry") as registry,
    ):
        info["seed"], reader = await seed_console(platform.dsn, args.versions, args.models, admin, registry)
    print(f"  seeded in {info['seed']['total_s']} s: {info['seed']}", flush=True)

    browsers = [await signed_in(platform.console.url, reader) for _ in range(args.browsers)]
    clients = [platform.client(reader, "modelyard-console") for _ in range(args.browsers)]
    urls = [platform.metadata.metrics_url, platform.deploy.metrics_url]
    timed = pages(info["seed"]["catalog_models"], len(SCALARS), len(PROJECTS) + 1)
    cases = Cases(args.duration, args.warmup, platform.meter())
    found: dict[str, Result] = {}
    calls_per_page: dict[str, int] = {}
    try:
        for page in timed:
            await page.calls(clients[0])  # its channels open, as the console's are after sign-in
            calls_per_page[page.key] = await same_calls(page, browsers[0], clients[0], urls)
            print(f"  {page.path}: {calls_per_page[page.key]} RPCs, the same as its baseline", flush=True)
        for n in sorted({1, args.browsers}):
            print(f"{n} at a time", flush=True)
            for page in timed:

                async def call(w: int, i: int, page: Page = page) -> None:
                    await page.calls(clients[w])

                async def get(w: int, i: int, page: Page = page) -> None:
                    answer = await browsers[w].get(page.path)
                    if answer.status_code != 200:
                        raise AssertionError(f"{page.path}: {answer.status_code}")

                calls = found[f"{page.key}-calls-{n}"] = await cases.run(page.key, "calls", n, call, channel="grpc")
                found[f"{page.key}-page-{n}"] = await cases.run(
                    page.key, "console", n, get, channel="http", baseline=calls
                )
        if args.profile:
            info["profile"] = await profile(args, platform.console.pid, timed, browsers[0])
    finally:
        for browser in browsers:
            await browser.aclose()
        for client in clients:
            await client.close()
    return {"found": found, "results": cases.results, "pages": timed, "calls_per_page": calls_per_page}


async def profile(
    args: argparse.Namespace, pid: int, timed: list[Page], browser: httpx.AsyncClient
) -> dict[str, list[str]]:
    """Each page again, one request at a time, with py-spy on the console (not in the tables)."""
    profiler = Profiler.create(args.profile, LAYERS, args.native)
    if profiler is None:
        return {}
    summaries = {}
    for page in timed:

        async def get(w: int, i: int, page: Page = page) -> None:
            await browser.get(page.path)

        what = f"the console, {page.title}, 1 at a time"
        with profiler.record(pid, f"console-{page.key}", what) as summary:
            await drive(get, 1, max(3.0, args.duration), None)
        summaries[page.key] = summary
    return summaries


def main() -> int:
    parser = arguments(
        __doc__,
        "a small seed (5,000 versions, 100 catalog models) and 1 s per case",
        "after the run, profile the console serving each page",
    )
    parser.add_argument("--duration", type=float, help="seconds per measured case (default 4, --quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per case (default 1, --quick 0.3)")
    parser.add_argument("--versions", type=int, help="versions in all (default 100000, --quick 5000)")
    parser.add_argument("--models", type=int, help="models of the catalog project (default 1000, --quick 100)")
    parser.add_argument("--browsers", type=int, default=4, help="browsers at once in the concurrent cases (default 4)")
    args = parser.parse_args()
    args.duration = args.duration or (1.0 if args.quick else 4.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    args.versions = args.versions or (5_000 if args.quick else 100_000)
    args.models = args.models or (100 if args.quick else 1_000)

    info = run_info(
        "bench/console/bench_console.py",
        ("starlette", "jinja2", "uvicorn", "httpx", "grpcio"),
        duration_s=args.duration,
        warmup_s=args.warmup,
        browsers=args.browsers,
    )
    print_header(
        info,
        f"{args.duration:g} s per case after {args.warmup:g} s warm-up",
        "the browsers and the SDK client (this process), the console, the services, Postgres and Redis",
    )
    with scratch("modelyard-bench-", args.keep) as root, processes() as stack:
        platform = Platform(root, stack)
        print(
            f"postgres pid {platform.postgres.pid}, redis pid {platform.redis.pid}, "
            f"metadata {platform.metadata.target}, deploy {platform.deploy.target}, console {platform.console.url}\n",
            flush=True,
        )
        measure_background_load(info)
        outcome = asyncio.run(run_bench(args, platform, info))

    print_tables(outcome["pages"], outcome["found"], outcome["calls_per_page"])
    checks = targets(outcome["pages"], outcome["found"])
    print_targets(checks)
    info["rpcs_per_page"] = outcome["calls_per_page"]
    write_json(args.json, info, checks, results=[r.as_json() for r in outcome["results"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
