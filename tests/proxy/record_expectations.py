"""Record what the real toxiproxy-server answers, for the tests to check the embedded server against.

Run once (and again after changing scenarios.py) on a machine that has the real binary:

    .venv/bin/python tests/proxy/record_expectations.py [--binary PATH] [--only NAME ...]

It starts toxiproxy-server 2.12.0 on a free loopback port, runs every API scenario and traffic scenario
of tests/proxy/scenarios.py against it, and writes tests/proxy/expectations/{api,traffic}.json. Those
files let a fresh clone (without the binary) still test the embedded server against real behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.proxy.scenarios import API_SCENARIOS, TRAFFIC, run_api_scenario
from tests.proxy.support import (
    API_EXPECTATIONS,
    EXPECTATIONS_DIR,
    TRAFFIC_EXPECTATIONS,
    api_client,
    load_json,
    real_binary,
    real_server,
)


async def record(url: str, only: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    api: dict[str, Any] = {}
    for name in [*API_SCENARIOS, "unsafe"]:
        if only and name not in only:
            continue
        async with api_client(url) as client:
            api[name] = await run_api_scenario(client, name)
        print(f"api {name}: {len(api[name])} exchanges", flush=True)
    traffic: dict[str, Any] = {}
    for name, scenario in TRAFFIC.items():
        if only and name not in only:
            continue
        async with api_client(url) as client:
            await client.clear()
            traffic[name] = await scenario(client)
            await client.clear()
        print(f"traffic {name}: {traffic[name]}", flush=True)
    return api, traffic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", type=Path, default=real_binary())
    parser.add_argument(
        "--only", nargs="*", default=[], help="record only these scenarios (merged into the files)"
    )
    args = parser.parse_args()
    if args.binary is None or not args.binary.is_file():
        print(
            "record_expectations: the real toxiproxy-server binary is needed (--binary PATH)", file=sys.stderr
        )
        return 2
    version = subprocess.run([str(args.binary), "-version"], capture_output=True, text=True).stdout.strip()
    with real_server(args.binary) as url:
        api, traffic = asyncio.run(record(url, set(args.only)))
    EXPECTATIONS_DIR.mkdir(exist_ok=True)
    old_api, old_traffic = load_json(API_EXPECTATIONS), load_json(TRAFFIC_EXPECTATIONS)
    meta = {"recorded_from": version or "toxiproxy-server", "flags": "-host 127.0.0.1 -proxy-metrics"}
    api_out = {**old_api.get("scenarios", {}), **api} if args.only else api
    traffic_out = {**old_traffic.get("scenarios", {}), **traffic} if args.only else traffic
    API_EXPECTATIONS.write_text(json.dumps({"meta": meta, "scenarios": api_out}, indent=1) + "\n")
    TRAFFIC_EXPECTATIONS.write_text(json.dumps({"meta": meta, "scenarios": traffic_out}, indent=1) + "\n")
    print(f"written {API_EXPECTATIONS} and {TRAFFIC_EXPECTATIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
