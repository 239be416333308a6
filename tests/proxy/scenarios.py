"""The catalogue of API call sequences and traffic scenarios run against both servers.

API scenarios are lists of requests (``$echo``, ``$echo2``, ``$taken`` and ``$free`` are replaced by
loopback addresses/ports made for the run); their answers are compared exactly after port normalisation.
Traffic scenarios are coroutines that set proxies up, drive connections and return what a client saw;
``TRAFFIC_SPECS`` says how each observation is compared (exactly, within a timing tolerance, or within
a range that holds for any random draw).

The same code produces the recorded expectations (record_expectations.py, run against the real server)
and the live comparisons in the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from tests.proxy.support import ApiClient, PortNamer, Upstream, connect, free_port, observe

# ------------------------------------------------------------------------------------------ API
Step = tuple[str, str, str | None] | tuple[str, str, str | None, dict[str, str]]

CREATE_A = ("POST", "/proxies", '{"name":"a","upstream":"$echo","listen":"127.0.0.1:0"}')
CREATE_B_DISABLED = (
    "POST",
    "/proxies",
    '{"name":"b","upstream":"$echo2","listen":"127.0.0.1:0","enabled":false}',
)

API_SCENARIOS: dict[str, list[Step]] = {
    "routing": [
        ("GET", "/version", None),
        ("PUT", "/version", None),
        ("HEAD", "/version", None),
        ("GET", "/nope", None),
        ("GET", "/proxies/", None),
        ("GET", "/proxies/a/toxics/b/c", None),
        ("GET", "/version", None, {"User-Agent": "Mozilla/5.0 (X11)"}),
        ("GET", "/nope", None, {"User-Agent": "Mozilla/5.0 (X11)"}),
        ("PUT", "/version", None, {"User-Agent": "Mozilla/5.0 (X11)"}),
        ("GET", "/proxies/../version", None),
        ("GET", "//version?x=1", None),
        ("GET", "/metrics", None),
        ("POST", "/metrics", None),
        ("DELETE", "/reset", None),
        ("GET", "/populate", None),
        ("PUT", "/proxies/a", None),
        ("PUT", "/proxies/a/toxics", None),
        ("PUT", "/proxies/a/toxics/t", None),
    ],
    "proxy_crud": [
        ("GET", "/proxies", None),
        CREATE_A,
        ("POST", "/proxies", '{"name":"a","upstream":"$echo2"}'),
        CREATE_B_DISABLED,
        ("GET", "/proxies/a", None),
        ("GET", "/proxies/b", None),
        ("GET", "/proxies/nope", None),
        ("GET", "/proxies", None),
        ("GET", "/proxies/%61", None),
        ("DELETE", "/proxies/a", None),
        ("DELETE", "/proxies/a", None),
        ("DELETE", "/proxies/b", "ignored body"),
        ("GET", "/proxies", None),
    ],
    "proxy_create_errors": [
        ("POST", "/proxies", '{"upstream":"$echo"}'),
        ("POST", "/proxies", '{"name":"x"}'),
        ("POST", "/proxies", '{"name":"","upstream":"$echo"}'),
        ("POST", "/proxies", '{"name":"x","upstream":""}'),
        ("POST", "/proxies", ""),
        ("POST", "/proxies", "   \n"),
        ("POST", "/proxies", "null"),
        ("POST", "/proxies", "[]"),
        ("POST", "/proxies", '"text"'),
        ("POST", "/proxies", "12"),
        ("POST", "/proxies", "true"),
        ("POST", "/proxies", '{"name":5}'),
        ("POST", "/proxies", '{"name":"x","upstream":"$echo","enabled":"yes"}'),
        ("POST", "/proxies", '{"name":"x","upstream":"$echo","Logger":5}'),
        ("POST", "/proxies", '{"name":"x","upstream":["$echo"]}'),
        ("POST", "/proxies", '{"name":"x","upstream":"$echo","listen":{"host":1}}'),
        ("POST", "/proxies", '{"name":"x","upstream":"$echo","listen":1.5,"enabled":3}'),
        ("POST", "/proxies", '{"name"'),
        ("POST", "/proxies", '{"name":"x",'),
        ("POST", "/proxies", '{"name":"x","upstream":"$echo"'),
        ("POST", "/proxies", "{n"),
        ("POST", "/proxies", '{"name" 1}'),
        ("POST", "/proxies", '{"name":"x" "upstream":"y"}'),
        ("POST", "/proxies", '{"name":"x",}'),
        ("POST", "/proxies", '{"name":tru}'),
        ("POST", "/proxies", '{"name":nul}'),
        ("POST", "/proxies", '{"name":-}'),
        ("POST", "/proxies", '{"name":1.}'),
        ("POST", "/proxies", '{"name":1e}'),
        ("POST", "/proxies", '{"name":01}'),
        ("POST", "/proxies", '{"name":"a\\qb"}'),
        ("POST", "/proxies", '{"name":"\\u12x4"}'),
        ("POST", "/proxies", '{"name":"a\tb"}'),
        ("POST", "/proxies", "{'name':1}"),
        ("POST", "/proxies", "x"),
        ("POST", "/proxies", "[1,]"),
        ("POST", "/proxies", "[1 2]"),
        ("GET", "/proxies", None),
    ],
    "proxy_create_variants": [
        ("POST", "/proxies", '{"NAME":"ci","UpStream":"$echo","LISTEN":"127.0.0.1:0"}'),
        ("POST", "/proxies", '{"name":"tr","upstream":"$echo","listen":"127.0.0.1:0"} trailing garbage'),
        ("POST", "/proxies", '{"name":"unk","upstream":"$echo","listen":"127.0.0.1:0","whatever":[1,{}]}'),
        ("POST", "/proxies", '{"name":"lg","upstream":"$echo","listen":"127.0.0.1:0","Logger":{"a":1}}'),
        ("POST", "/proxies", '{"name":"tx","upstream":"$echo","listen":"127.0.0.1:0","toxics":[1]}'),
        ("POST", "/proxies", '{"name":"dup","name":"dup2","upstream":"$echo","listen":"127.0.0.1:0"}'),
        ("POST", "/proxies", '{"name":"off","upstream":"$echo","listen":"127.0.0.1:0","enabled":false}'),
        ("POST", "/proxies", '{"name":"offl","upstream":"$echo","listen":"localhost:0","enabled":false}'),
        ("POST", "/proxies", '{"name":"lh","upstream":"localhost:1","listen":"localhost:0"}'),
        (
            "POST",
            "/proxies",
            '{"name":"esc","upstream":"$echo","listen":"127.0.0.1:0","enabled":false,'
            '"x":"\\u00e9\\ud83d\\ude00<&>"}',
        ),
        (
            "POST",
            "/proxies",
            '{"name":"uni\\u00e9<>&\\u2028","upstream":"$echo","listen":"127.0.0.1:0","enabled":false}',
        ),
        ("GET", "/proxies", None),
    ],
    "proxy_listen_errors": [
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"127.0.0.1:$taken"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"127.0.0.1:99999"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"127.0.0.1:-1"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"garbage"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"127.0.0.1:abc"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"1:2:3"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"[::1:0"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"[::1]x:0"}'),
        ("POST", "/proxies", '{"name":"t","upstream":"$echo","listen":"a]:0"}'),
        ("GET", "/proxies", None),
    ],
    "proxy_update": [
        CREATE_A,
        ("PATCH", "/proxies/a", '{"enabled":false}'),
        ("PATCH", "/proxies/a", '{"enabled":false}'),
        ("POST", "/proxies/a", '{"enabled":true}'),
        ("PATCH", "/proxies/a", "{}"),
        ("PATCH", "/proxies/a", '{"name":"renamed","upstream":"$echo2"}'),
        ("PATCH", "/proxies/a", '{"listen":"127.0.0.1:$free"}'),
        ("PATCH", "/proxies/a", '{"listen":"localhost:$free"}'),
        ("PATCH", "/proxies/a", '{"listen":"garbage"}'),
        ("PATCH", "/proxies/a", '{"listen":"127.0.0.1:99999"}'),
        ("PATCH", "/proxies/a", '{"listen":"127.0.0.1:abc"}'),
        ("PATCH", "/proxies/a", '{"listen":"1:2:3"}'),
        ("PATCH", "/proxies/a", '{"listen":"127.0.0.1:$taken"}'),
        ("GET", "/proxies/a", None),
        ("PATCH", "/proxies/a", '{"listen":"127.0.0.1:0","enabled":true}'),
        ("PATCH", "/proxies/a", ""),
        ("PATCH", "/proxies/a", "[]"),
        ("PATCH", "/proxies/a", '{"enabled":"x"}'),
        ("PATCH", "/proxies/a", '{"listen":5}'),
        ("PATCH", "/proxies/a", "{x"),
        ("PATCH", "/proxies/nope", "{x"),
        ("POST", "/proxies/nope", "{}"),
        CREATE_B_DISABLED,
        ("PATCH", "/proxies/b", '{"listen":"localhost:0"}'),
        ("PATCH", "/proxies/b", '{"listen":"127.0.0.1:"}'),
        ("PATCH", "/proxies/b", '{"listen":":0"}'),
        ("PATCH", "/proxies/b", '{"listen":"127.0.0.1:http"}'),
        ("PATCH", "/proxies/b", '{"listen":"127.0.0.1:0","enabled":true}'),
        ("GET", "/proxies", None),
    ],
    "toxic_crud": [
        CREATE_A,
        ("GET", "/proxies/a/toxics", None),
        ("POST", "/proxies/a/toxics", '{"type":"latency"}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"name":"lat","type":"latency","stream":"downstream","toxicity":1.0,'
            '"attributes":{"latency":100,"jitter":0}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"bandwidth","stream":"upstream"}'),
        ("POST", "/proxies/a/toxics", '{"type":"slow_close","stream":"upstream","attributes":{}}'),
        ("POST", "/proxies/a/toxics", '{"type":"timeout","attributes":{"timeout":1000}}'),
        ("POST", "/proxies/a/toxics", '{"type":"reset_peer","stream":"Upstream","attributes":{"timeout":5}}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"slicer","attributes":{"average_size":10,"size_variation":3,"delay":20000}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"limit_data","attributes":{"bytes":150}}'),
        ("POST", "/proxies/a/toxics", '{"type":"noop","attributes":{"x":1},"toxicity":0.3}'),
        ("GET", "/proxies/a/toxics", None),
        ("GET", "/proxies/a/toxics/lat", None),
        ("GET", "/proxies/a/toxics/reset_peer_Upstream", None),
        ("GET", "/proxies/a/toxics/nope", None),
        ("DELETE", "/proxies/a/toxics/lat", None),
        ("DELETE", "/proxies/a/toxics/lat", None),
        ("GET", "/proxies/a", None),
        ("GET", "/proxies/nope/toxics", None),
        ("POST", "/proxies/nope/toxics", '{"type":"latency"}'),
        ("POST", "/proxies/nope/toxics", "{x"),
        ("GET", "/proxies/nope/toxics/lat", None),
        ("PATCH", "/proxies/nope/toxics/lat", "{}"),
        ("DELETE", "/proxies/nope/toxics/lat", None),
        ("PATCH", "/proxies/a", '{"enabled":false}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"while_disabled"}'),
        ("GET", "/proxies", None),
    ],
    "toxic_create_errors": [
        CREATE_A,
        ("POST", "/proxies/a/toxics", '{"type":"latency","stream":"up"}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","stream":""}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","stream":"UPSTREAM","toxicity":0.1}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","stream":"DownStream"}'),
        ("POST", "/proxies/a/toxics", '{"stream":"upstream"}'),
        ("POST", "/proxies/a/toxics", '{"type":"bogus"}'),
        ("POST", "/proxies/a/toxics", '{"type":"Latency"}'),
        ("POST", "/proxies/a/toxics", '{"type":"bogus","name":"latency_UPSTREAM"}'),
        ("POST", "/proxies/a/toxics", '{"type":"bogus","stream":"sideways"}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"latency_UPSTREAM"}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"latency","name":"latency_UPSTREAM","attributes":{"latency":"x"}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":"x"}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":1.5}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":1e2}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"jitter":1.0}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":[1]}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":{}}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":{"latency":true}}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"latency","name":"l1","attributes":{"latency":9223372036854775808}}',
        ),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"bandwidth","name":"b1","attributes":{"rate":99999999999999999999}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"slicer","name":"s1","attributes":{"average_size":1.5}}'),
        ("POST", "/proxies/a/toxics", '{"type":"reset_peer","name":"r1","attributes":{"timeout":"1"}}'),
        ("POST", "/proxies/a/toxics", '{"type":"limit_data","name":"d1","attributes":{"bytes":-0.5}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":5}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":"x"}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","attributes":[]}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","toxicity":"x"}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"l1","toxicity":1e39}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":5}'),
        ("POST", "/proxies/a/toxics", '{"type":7}'),
        ("POST", "/proxies/a/toxics", '{"type":"slow_close","attributes":{"delay":true},"stream":5}'),
        ("POST", "/proxies/a/toxics", ""),
        ("POST", "/proxies/a/toxics", "[]"),
        ("POST", "/proxies/a/toxics", "null"),
        ("POST", "/proxies/a/toxics", "{x"),
        ("POST", "/proxies/a/toxics", '{"type":"latency"'),
        ("GET", "/proxies/a/toxics", None),
    ],
    "toxic_create_variants": [
        CREATE_A,
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n1","attributes":null,"toxicity":1e-7}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n2","toxicity":0.1}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n3","toxicity":2.5}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n4","toxicity":0}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n5","toxicity":-1}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n6","toxicity":123456789}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n7","toxicity":1e21}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n8","toxicity":0.333333333333}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n9","toxicity":null}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"latency","name":"n10","attributes":{"LATENCY":7,"Jitter":2,"other":"x"}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n11","attributes":{"latency":-5}}'),
        ("POST", "/proxies/a/toxics", '{"type":"limit_data","name":"n12","attributes":{"bytes":-5}}'),
        ("POST", "/proxies/a/toxics", '{"type":"timeout","name":"n13","attributes":{"timeout":-1}}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"slicer","name":"n14","attributes":{"average_size":10,"size_variation":-3,"delay":-5}}',
        ),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"latency","name":"n15","attributes":{"latency":9223372036854775807}}',
        ),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"n16"} trailing'),
        ("POST", "/proxies/a/toxics", '{"TYPE":"latency","NAME":"n17","Stream":"upstream","TOXICITY":0.5}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"","stream":"upstream"}'),
        ("POST", "/proxies/a/toxics", '{"type":"noop","name":"n18","attributes":{}}'),
        ("POST", "/proxies/a/toxics", '{"type":"bandwidth","name":"n19","attributes":{"rate":0}}'),
        (
            "POST",
            "/proxies/a/toxics",
            '{"type":"latency","name":"n20","attributes":{"latency":1,"latency":2}}',
        ),
        ("GET", "/proxies/a/toxics", None),
    ],
    "toxic_update": [
        CREATE_A,
        ("POST", "/proxies/a/toxics", '{"type":"latency","attributes":{"latency":100,"jitter":0}}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":{"jitter":5}}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"toxicity":0.25}'),
        (
            "POST",
            "/proxies/a/toxics/latency_downstream",
            '{"attributes":{"latency":50},"name":"zz","type":"slicer","stream":"upstream"}',
        ),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":null,"toxicity":null}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":{"LATENCY":60,"bogus":1}}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":5}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":{"jitter":"x"}}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"attributes":{"jitter":2.5}}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"toxicity":"x"}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", '{"toxicity":1e40}'),
        ("PATCH", "/proxies/a/toxics/latency_downstream", ""),
        ("PATCH", "/proxies/a/toxics/latency_downstream", "[1]"),
        ("PATCH", "/proxies/a/toxics/latency_downstream", "{x"),
        ("PATCH", "/proxies/a/toxics/latency_downstream", "{} trailing"),
        ("PATCH", "/proxies/a/toxics/nope", "{x"),
        ("POST", "/proxies/a/toxics/nope", "{}"),
        ("PUT", "/proxies/a/toxics/latency_downstream", "{}"),
        ("POST", "/proxies/a/toxics", '{"type":"noop","name":"nn"}'),
        ("PATCH", "/proxies/a/toxics/nn", '{"attributes":{"x":1},"toxicity":0.5}'),
        ("PATCH", "/proxies/a/toxics/nn", '{"attributes":[]}'),
        ("POST", "/proxies/a/toxics", '{"type":"limit_data","name":"ld","attributes":{"bytes":10}}'),
        ("PATCH", "/proxies/a/toxics/ld", '{"attributes":{"bytes":20}}'),
        ("GET", "/proxies/a/toxics", None),
    ],
    "populate": [
        (
            "POST",
            "/populate",
            '[{"name":"k","upstream":"$echo","listen":"127.0.0.1:$free"},'
            '{"name":"j","upstream":"$echo","listen":"127.0.0.1:0","enabled":false}]',
        ),
        ("POST", "/proxies/k/toxics", '{"type":"latency"}'),
        ("PATCH", "/proxies/k", '{"enabled":false}'),
        (
            "POST",
            "/populate",
            '[{"name":"k","upstream":"$echo","listen":"localhost:$free","enabled":true},'
            '{"name":"j","upstream":"$echo","listen":"127.0.0.1:0"}]',
        ),
        ("POST", "/populate", '[{"name":"k","upstream":"$echo2","listen":"127.0.0.1:$free"}]'),
        ("GET", "/proxies", None),
        ("POST", "/populate", '[{"name":"z","upstream":"$echo","listen":"127.0.0.1:0"},{"name":"y"}]'),
        ("POST", "/populate", '[{"name":"","upstream":"$echo"}]'),
        (
            "POST",
            "/populate",
            '[{"name":"z","upstream":"$echo","listen":"127.0.0.1:0"},'
            '{"name":"w","upstream":"$echo","listen":"bad"}]',
        ),
        (
            "POST",
            "/populate",
            '[{"name":"d","upstream":"$echo","listen":"127.0.0.1:0"},'
            '{"name":"d","upstream":"$echo","listen":"127.0.0.1:0"}]',
        ),
        ("POST", "/populate", '[{"name":"e","upstream":"$echo","listen":"127.0.0.1:0","enabled":null}]'),
        ("POST", "/populate", '[{"name":"f","upstream":"$echo","listen":"bad","enabled":false}]'),
        ("POST", "/populate", '[{"name":"f","upstream":"$echo","listen":"worse"}]'),
        ("POST", "/populate", '[{"name":"t","upstream":"$echo","listen":"127.0.0.1:$taken"}]'),
        ("POST", "/populate", "[]"),
        ("POST", "/populate", "null"),
        ("POST", "/populate", ""),
        ("POST", "/populate", "{}"),
        ("POST", "/populate", "[5]"),
        ("POST", "/populate", '[{"name":5}]'),
        ("POST", "/populate", '[{"name":"x","upstream":"$echo","enabled":3}]'),
        ("POST", "/populate", '[{"name":"x","upstream":"$echo","Logger":[]}]'),
        ("POST", "/populate", "[{x"),
        ("POST", "/populate", '[{"NAME":"ci","UPSTREAM":"$echo","listen":"127.0.0.1:0"}] trailing'),
        ("GET", "/proxies", None),
    ],
    "reset": [
        CREATE_A,
        CREATE_B_DISABLED,
        ("POST", "/proxies/a/toxics", '{"type":"latency","attributes":{"latency":10}}'),
        ("POST", "/proxies/a/toxics", '{"type":"timeout","stream":"upstream"}'),
        ("POST", "/proxies/b/toxics", '{"type":"slicer","attributes":{"average_size":5}}'),
        ("POST", "/reset", "anything"),
        ("GET", "/proxies", None),
        ("GET", "/reset", None),
        ("POST", "/reset", None),
    ],
    # Go's decoder refuses the 10001st open bracket ("invalid character '[' exceeded max depth"); up to
    # there any nesting is accepted, whether the deep value sits in an unknown field (skipped) or a known
    # one (a type error). $arrN / $objN are N nested arrays / objects, $openN N unclosed arrays.
    "json_nesting_depth": [
        CREATE_A,
        ("POST", "/proxies", '{"zz":$arr9999,"name":"d1","upstream":"$echo","listen":"127.0.0.1:0"}'),
        ("POST", "/proxies", '{"zz":$obj9999,"name":"d2","upstream":"$echo","enabled":false}'),
        ("POST", "/proxies", '{"zz":$arr10000,"name":"d3","upstream":"$echo"}'),
        ("POST", "/proxies", '{"zz":$obj10000,"name":"d3","upstream":"$echo"}'),
        ("POST", "/proxies", '{"name":$arr9999,"upstream":"$echo"}'),
        ("POST", "/proxies", '{"name":$obj10000,"upstream":"$echo"}'),
        ("POST", "/proxies", "$arr10000"),
        ("POST", "/proxies", "$obj10001"),
        ("POST", "/proxies", "$open10001"),
        ("POST", "/proxies", "$open10000"),
        ("POST", "/populate", '[{"zz":$arr9998,"name":"d4","upstream":"$echo","enabled":false}]'),
        ("POST", "/populate", '[{"zz":$obj9999,"name":"d5","upstream":"$echo"}]'),
        ("POST", "/populate", '[{"listen":$arr9998,"name":"d5","upstream":"$echo"}]'),
        ("POST", "/populate", "[$obj9999]"),
        ("POST", "/populate", "$arr10001"),
        ("PATCH", "/proxies/a", '{"zz":$obj9999,"enabled":false}'),
        ("PATCH", "/proxies/a", '{"zz":$arr10000}'),
        ("POST", "/proxies/a", '{"upstream":$arr9999}'),
        ("POST", "/proxies/a/toxics", '{"zz":$arr9999,"type":"latency","name":"t1"}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"t2","attributes":{"zz":$obj9998}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"t3","attributes":{"zz":$obj9999}}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"t4","attributes":$arr9999}'),
        ("POST", "/proxies/a/toxics", '{"type":"latency","name":"t5","attributes":{"jitter":$arr9998}}'),
        ("POST", "/proxies/a/toxics", '{"attributes":null,"type":"noop","name":"t6","attributes":$obj9999}'),
        ("POST", "/proxies/a/toxics", '{"type":$arr10000}'),
        ("PATCH", "/proxies/a/toxics/t1", '{"attributes":{"latency":7,"zz":$obj9998},"toxicity":0.5}'),
        ("PATCH", "/proxies/a/toxics/t1", '{"attributes":{"jitter":$arr9998}}'),
        ("POST", "/proxies/a/toxics/t1", '{"zz":$arr10000}'),
        ("GET", "/proxies", None),
    ],
}

# Toxic settings that crash or hang toxiproxy-server 2.12.0: it answers 200 (and dies on traffic), the
# embedded server answers 400. Recorded from the real server to document the difference.
UNSAFE_STEPS: list[Step] = [
    CREATE_A,
    ("POST", "/proxies/a/toxics", '{"type":"slicer","name":"s0"}'),
    (
        "POST",
        "/proxies/a/toxics",
        '{"type":"slicer","name":"s1","attributes":{"average_size":1,"size_variation":-1}}',
    ),
    (
        "POST",
        "/proxies/a/toxics",
        '{"type":"slicer","name":"s2","attributes":{"average_size":2,"size_variation":10}}',
    ),
    ("POST", "/proxies/a/toxics", '{"type":"bandwidth","name":"b1","attributes":{"rate":-1}}'),
    ("POST", "/proxies/a/toxics", '{"type":"bandwidth","name":"b2","attributes":{"rate":92233720368547759}}'),
    (
        "POST",
        "/proxies/a/toxics",
        '{"type":"latency","name":"j1","attributes":{"jitter":4611686018427387904}}',
    ),
    (
        "POST",
        "/proxies/a/toxics",
        '{"type":"slicer","name":"ok","attributes":{"average_size":10,"size_variation":3}}',
    ),
    ("PATCH", "/proxies/a/toxics/ok", '{"attributes":{"average_size":0}}'),
]
UNSAFE_EMBEDDED_STATUS = [201, 400, 400, 400, 400, 400, 400, 200, 400]


def _nested_values() -> dict[str, str]:
    """``$arrN`` / ``$objN`` (N nested arrays / objects around 1) and ``$openN`` (N unclosed arrays)."""
    values: dict[str, str] = {}
    for depth in (9998, 9999, 10000, 10001):
        values[f"arr{depth}"] = "[" * depth + "1" + "]" * depth
        values[f"obj{depth}"] = '{"a":' * depth + "1" + "}" * depth
        values[f"open{depth}"] = "[" * depth
    return values


NESTED = _nested_values()


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ``$name`` placeholders."""
    for key in sorted(values, key=len, reverse=True):
        text = text.replace(f"${key}", values[key])
    return text


async def run_steps(client: ApiClient, steps: list[Step], values: dict[str, str]) -> list[dict[str, Any]]:
    """Send the steps in order; returns the normalised exchanges."""
    for step in steps:
        method, path, body = step[0], step[1], step[2]
        headers = step[3] if len(step) == 4 else None
        await client.call(
            method,
            substitute(path, values),
            substitute(body, values) if body is not None else None,
            headers=headers,
        )
    return [exchange.key() for exchange in client.log]


@contextlib.asynccontextmanager
async def api_context() -> Any:
    """Two echo upstreams, a port held by another socket, and a free port."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        async with Upstream("echo") as echo, Upstream("echo") as echo2:
            yield {
                "echo": echo.addr,
                "echo2": echo2.addr,
                "taken": str(taken.getsockname()[1]),
                "free": str(free_port()),
                **NESTED,
            }
    finally:
        taken.close()


async def run_api_scenario(client: ApiClient, name: str) -> list[dict[str, Any]]:
    """Run one named API scenario from a clean server."""
    await client.clear()
    steps = UNSAFE_STEPS if name == "unsafe" else API_SCENARIOS[name]
    async with api_context() as values:
        result = await run_steps(client, steps, values)
    await client.clear()
    return result


# -------------------------------------------------------------------------------------- traffic
Traffic = Callable[[ApiClient], Awaitable[dict[str, Any]]]
TRAFFIC: dict[str, Traffic] = {}
TRAFFIC_SPECS: dict[str, dict[str, Any]] = {}
EXACT = "exact"


def ms(tol_abs: float = 40.0, tol_rel: float = 0.15) -> tuple[str, float, float]:
    """Compare a duration in ms: within max(tol_abs, tol_rel * expected)."""
    return ("ms", tol_abs, tol_rel)


def within(lo: float, hi: float) -> tuple[str, float, float]:
    """The observation must lie in [lo, hi] on every server (random draws)."""
    return ("range", lo, hi)


def traffic(**spec: Any) -> Callable[[Traffic], Traffic]:
    """Register a traffic scenario with the comparison spec of its observations."""

    def register(func: Traffic) -> Traffic:
        TRAFFIC[func.__name__] = func
        TRAFFIC_SPECS[func.__name__] = spec
        return func

    return register


def _now() -> float:
    return asyncio.get_running_loop().time()


async def rtt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping") -> float:
    """Echo round trip in ms."""
    start = _now()
    writer.write(payload)
    await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    return (_now() - start) * 1000


def _close(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


@traffic(bytes=EXACT, end=EXACT)
async def passthrough(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        start = _now()
        writer.write(bytes(range(256)) * 40)
        seen = await observe(reader, start, 2.0, stop_after=10240)
        _close(writer)
    return {"bytes": seen.total, "end": seen.end}


@traffic(rtt_ms=ms(), first_rtt_ms=ms())
async def latency_downstream(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", attributes={"latency": 100})
        reader, writer = await connect(port)
        first = await rtt(reader, writer)
        second = await rtt(reader, writer)
        _close(writer)
    return {"first_rtt_ms": round(first, 1), "rtt_ms": round(second, 1)}


@traffic(rtt_ms=ms())
async def latency_both_directions(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", stream="upstream", attributes={"latency": 30})
        await api.toxic("t", type="latency", stream="downstream", attributes={"latency": 20})
        reader, writer = await connect(port)
        value = await rtt(reader, writer)
        _close(writer)
    return {"rtt_ms": round(value, 1)}


@traffic(rtt_ms=ms())
async def latency_two_same_direction(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", name="l1", attributes={"latency": 20})
        await api.toxic("t", type="latency", name="l2", attributes={"latency": 30})
        reader, writer = await connect(port)
        value = await rtt(reader, writer)
        _close(writer)
    return {"rtt_ms": round(value, 1)}


@traffic(min_ms=within(20, 80), max_ms=within(20, 80))
async def latency_jitter(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", attributes={"latency": 50, "jitter": 20})
        reader, writer = await connect(port)
        values = [await rtt(reader, writer) for _ in range(8)]
        _close(writer)
    return {"min_ms": round(min(values), 1), "max_ms": round(max(values), 1)}


@traffic(first_ms=ms(30, 0.1), second_ms=ms(30, 0.1), bytes=EXACT)
async def latency_measured_from_read_time(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", attributes={"latency": 100})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"a")
        await asyncio.sleep(0.01)
        writer.write(b"b")
        seen = await observe(reader, start, 1.0, stop_after=2)
        _close(writer)
    return {
        "bytes": seen.total,
        "first_ms": round(seen.reads[0][0], 1),
        "second_ms": round(seen.reads[-1][0], 1),
    }


@traffic(before_ms=within(0, 30), added_ms=ms(), updated_ms=ms())
async def latency_spliced_into_open_connection(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        before = await rtt(reader, writer)
        await api.toxic("t", type="latency", attributes={"latency": 100})
        added = await rtt(reader, writer)
        await api.json("PATCH", "/proxies/t/toxics/latency_downstream", {"attributes": {"latency": 200}})
        updated = await rtt(reader, writer)
        _close(writer)
    return {"before_ms": round(before, 1), "added_ms": round(added, 1), "updated_ms": round(updated, 1)}


@traffic(arrived_ms=ms(40, 0.3), bytes=EXACT)
async def latency_removed_mid_wait(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", attributes={"latency": 1000})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"held")
        await asyncio.sleep(0.15)
        await api.call("DELETE", "/proxies/t/toxics/latency_downstream", record=False)
        seen = await observe(reader, start, 1.5, stop_after=4)
        _close(writer)
    return {"bytes": seen.total, "arrived_ms": round(seen.reads[0][0], 1) if seen.reads else None}


@traffic(bytes=EXACT, duration_ms=ms(60, 0.15))
async def bandwidth_rate(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="bandwidth", attributes={"rate": 20})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"x" * 10000)
        seen = await observe(reader, start, 3.0, stop_after=10000)
        _close(writer)
    return {"bytes": seen.total, "duration_ms": round(seen.reads[-1][0], 1)}


@traffic(bytes_while_stalled=EXACT, bytes_after_removal=EXACT)
async def bandwidth_zero_stalls(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="bandwidth", attributes={"rate": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"y" * 100)
        stalled = await observe(reader, start, 0.5)
        await api.call("DELETE", "/proxies/t/toxics/bandwidth_downstream", record=False)
        after = await observe(reader, _now(), 1.0, stop_after=100)
        _close(writer)
    return {"bytes_while_stalled": stalled.total, "bytes_after_removal": after.total}


@traffic(bytes=EXACT, data_ms=within(0, 60), end=EXACT, end_ms=ms())
async def slow_close_downstream(api: ApiClient) -> dict[str, Any]:
    async with Upstream("send_close", payload=b"0123456789") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="slow_close", attributes={"delay": 300})
        start = _now()
        reader, writer = await connect(port)
        seen = await observe(reader, start, 2.0)
        _close(writer)
    return {
        "bytes": seen.total,
        "data_ms": round(seen.reads[0][0], 1) if seen.reads else None,
        "end": seen.end,
        "end_ms": round(seen.end_ms or 0, 1),
    }


@traffic(end=EXACT, end_ms=ms())
async def slow_close_upstream_half_close(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="slow_close", stream="upstream", attributes={"delay": 300})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"hello")
        writer.write_eof()
        seen = await observe(reader, start, 2.0)
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, end_ms=ms())
async def timeout_idle_closes(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", attributes={"timeout": 300})
        start = _now()
        reader, writer = await connect(port)
        seen = await observe(reader, start, 2.0)
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, bytes=EXACT)
async def timeout_kept_open_by_traffic(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", stream="upstream", attributes={"timeout": 300})
        reader, writer = await connect(port)
        start = _now()
        reads = asyncio.ensure_future(observe(reader, start, 1.0))
        for _ in range(6):
            writer.write(b".")
            await asyncio.sleep(0.15)
        seen = await reads
        _close(writer)
    return {"end": seen.end, "bytes": seen.total}


@traffic(end=EXACT, bytes=EXACT)
async def timeout_zero_discards_forever(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", attributes={"timeout": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"lost")
        seen = await observe(reader, start, 0.6)
        _close(writer)
    return {"end": seen.end, "bytes": seen.total}


@traffic(bytes=EXACT, end=EXACT, end_after_delete_ms=within(0, 100))
async def timeout_removal_closes_even_inactive(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", toxicity=0, attributes={"timeout": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"works")
        first = await observe(reader, start, 1.0, stop_after=5)
        deleted = _now()
        await api.call("DELETE", "/proxies/t/toxics/timeout_downstream", record=False)
        after = await observe(reader, deleted, 1.0)
        _close(writer)
    return {
        "bytes": first.total,
        "end": after.end,
        "end_after_delete_ms": round(after.end_ms or 0, 1) if after.end != "open" else None,
    }


@traffic(end=EXACT, end_ms=ms(60, 0.15))
async def timeout_update_restarts_countdown(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", attributes={"timeout": 400})
        start = _now()
        reader, writer = await connect(port)
        reads = asyncio.ensure_future(observe(reader, start, 2.0))
        await asyncio.sleep(0.3)
        await api.json("PATCH", "/proxies/t/toxics/timeout_downstream", {"attributes": {"timeout": 400}})
        seen = await reads
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, end_ms=ms())
async def timeout_upstream(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="timeout", stream="upstream", attributes={"timeout": 200})
        start = _now()
        reader, writer = await connect(port)
        seen = await observe(reader, start, 2.0)
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, end_ms=within(0, 60))
async def reset_peer_at_accept(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="reset_peer", attributes={"timeout": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"boom")
        seen = await observe(reader, start, 1.0)
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, end_ms=ms())
async def reset_peer_counts_from_first_data(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="reset_peer", attributes={"timeout": 200})
        reader, writer = await connect(port)
        await asyncio.sleep(0.3)
        start = _now()
        writer.write(b"boom")
        seen = await observe(reader, start, 1.5)
        _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT)
async def reset_peer_upstream(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="reset_peer", stream="upstream", attributes={"timeout": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"boom")
        seen = await observe(reader, start, 1.0)
        _close(writer)
    return {"end": seen.end}


@traffic(end=EXACT)
async def reset_peer_added_later_is_a_fin(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        await rtt(reader, writer)
        await api.toxic("t", type="reset_peer", attributes={"timeout": 0})
        start = _now()
        writer.write(b"boom")
        seen = await observe(reader, start, 1.0)
        _close(writer)
    return {"end": seen.end}


@traffic(end=EXACT)
async def reset_peer_inactive_still_resets_normal_close(api: ApiClient) -> dict[str, Any]:
    async with Upstream("send_close", payload=b"0123456789") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="reset_peer", toxicity=0, attributes={"timeout": 0})
        reader, writer = await connect(port)
        await asyncio.sleep(0.2)
        seen = await observe(reader, _now(), 1.0)
        _close(writer)
    return {"end": seen.end}


@traffic(reads=EXACT, bytes=EXACT, end=EXACT, end_ms=ms(60, 0.25))
async def slicer_fixed_halving(api: ApiClient) -> dict[str, Any]:
    async with Upstream("send_close", payload=bytes(range(100))) as up:
        port = await api.create("t", up.addr)
        await api.toxic(
            "t", type="slicer", attributes={"average_size": 10, "size_variation": 0, "delay": 15000}
        )
        start = _now()
        reader, writer = await connect(port)
        seen = await observe(reader, start, 2.0)
        _close(writer)
    return {
        "reads": [n for _, n in seen.reads],
        "bytes": seen.total,
        "end": seen.end,
        "end_ms": round(seen.end_ms or 0, 1),
    }


@traffic(bytes=EXACT, largest_read=within(1, 13), read_count=within(7, 40), end=EXACT)
async def slicer_random_cuts(api: ApiClient) -> dict[str, Any]:
    async with Upstream("send_close", payload=bytes(range(100))) as up:
        port = await api.create("t", up.addr)
        await api.toxic(
            "t", type="slicer", attributes={"average_size": 10, "size_variation": 3, "delay": 10000}
        )
        start = _now()
        reader, writer = await connect(port)
        seen = await observe(reader, start, 2.0)
        _close(writer)
    sizes = [n for _, n in seen.reads]
    return {"bytes": seen.total, "largest_read": max(sizes), "read_count": len(sizes), "end": seen.end}


@traffic(bytes=EXACT, end=EXACT)
async def limit_data_downstream(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="limit_data", attributes={"bytes": 150})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"a" * 100)
        await asyncio.sleep(0.1)
        writer.write(b"b" * 100)
        seen = await observe(reader, start, 1.5)
        _close(writer)
    return {"bytes": seen.total, "end": seen.end}


@traffic(first=EXACT, more=EXACT, end=EXACT)
async def limit_data_count_survives_update(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="limit_data", attributes={"bytes": 300})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"a" * 200)
        first = await observe(reader, start, 1.0, stop_after=200)
        await api.json("PATCH", "/proxies/t/toxics/limit_data_downstream", {"attributes": {"bytes": 250}})
        writer.write(b"b" * 100)
        more = await observe(reader, _now(), 1.5)
        _close(writer)
    return {"first": first.total, "more": more.total, "end": more.end}


@traffic(bytes=EXACT, end=EXACT)
async def limit_data_zero(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="limit_data", attributes={"bytes": 0})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"abc")
        seen = await observe(reader, start, 1.0)
        _close(writer)
    return {"bytes": seen.total, "end": seen.end}


@traffic(bytes=within(0, 5), end=EXACT)
async def limit_data_upstream_loses_echo(api: ApiClient) -> dict[str, Any]:
    """The upstream socket is closed right after the permitted bytes, so their echo is normally lost;
    the real server races the echo against that close and occasionally delivers it."""
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="limit_data", stream="upstream", attributes={"bytes": 5})
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"0123456789")
        seen = await observe(reader, start, 1.0)
        _close(writer)
    return {"bytes": seen.total, "end": seen.end}


@traffic(bytes=EXACT, rtt_ms=within(0, 30))
async def noop_passes(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="noop", name="n1")
        await api.toxic("t", type="noop", name="n2", stream="upstream")
        reader, writer = await connect(port)
        value = await rtt(reader, writer, b"z" * 5000)
        _close(writer)
    return {"bytes": 5000, "rtt_ms": round(value, 1)}


@traffic(rtt_ms=within(0, 40))
async def toxicity_zero(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", toxicity=0, attributes={"latency": 200})
        reader, writer = await connect(port)
        value = await rtt(reader, writer)
        _close(writer)
    return {"rtt_ms": round(value, 1)}


@traffic(delayed=within(6, 24), connections=EXACT)
async def toxicity_half(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", toxicity=0.5, attributes={"latency": 150})

        async def one() -> float:
            reader, writer = await connect(port)
            try:
                return await rtt(reader, writer)
            finally:
                _close(writer)

        values = await asyncio.gather(*(one() for _ in range(30)))
    return {"connections": len(values), "delayed": sum(1 for v in values if v > 100)}


@traffic(open_conn_end=EXACT, refused=EXACT, rtt_after_enable_ms=ms())
async def disable_closes_and_refuses(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr, listen="127.0.0.1:0")
        reader, writer = await connect(port)
        await rtt(reader, writer)
        await api.toxic("t", type="latency", attributes={"latency": 100})
        await api.json("PATCH", "/proxies/t", {"enabled": False})
        seen = await observe(reader, _now(), 1.0)
        _close(writer)
        try:
            _, refused_writer = await connect(port)
            refused = False
            _close(refused_writer)
        except ConnectionRefusedError:
            refused = True
        await api.json("PATCH", "/proxies/t", {"enabled": True})
        reader, writer = await connect(port)
        value = await rtt(reader, writer)
        _close(writer)
    return {"open_conn_end": seen.end, "refused": refused, "rtt_after_enable_ms": round(value, 1)}


@traffic(end=EXACT)
async def delete_closes_connections(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        await rtt(reader, writer)
        await api.call("DELETE", "/proxies/t", record=False)
        seen = await observe(reader, _now(), 1.0)
        _close(writer)
    return {"end": seen.end}


@traffic(end=EXACT)
async def update_upstream_drops_connections(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up, Upstream("echo") as other:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        await rtt(reader, writer)
        await api.json("PATCH", "/proxies/t", {"upstream": other.addr})
        seen = await observe(reader, _now(), 1.0)
        _close(writer)
    return {"end": seen.end}


@traffic(latency_ms=ms(), after_reset_ms=within(0, 30), still_open=EXACT)
async def reset_keeps_connections(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        await api.toxic("t", type="latency", attributes={"latency": 100})
        reader, writer = await connect(port)
        first = await rtt(reader, writer)
        await api.call("POST", "/reset", record=False)
        second = await rtt(reader, writer)
        still_open = not writer.is_closing()
        _close(writer)
    return {"latency_ms": round(first, 1), "after_reset_ms": round(second, 1), "still_open": still_open}


@traffic(end=EXACT, end_ms=within(0, 60))
async def upstream_down_closes_client(api: ApiClient) -> dict[str, Any]:
    dead = free_port()
    port = await api.create("t", f"127.0.0.1:{dead}")
    start = _now()
    reader, writer = await connect(port)
    seen = await observe(reader, start, 1.0)
    _close(writer)
    return {"end": seen.end, "end_ms": round(seen.end_ms or 0, 1)}


@traffic(end=EXACT, upstream_saw_eof=EXACT)
async def client_half_close_tears_down(api: ApiClient) -> dict[str, Any]:
    async with Upstream("sink") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        start = _now()
        writer.write(b"bye")
        writer.write_eof()
        seen = await observe(reader, start, 1.0)
        _close(writer)
        await asyncio.sleep(0.05)
    return {"end": seen.end, "upstream_saw_eof": any(kind == "eof" for kind, _ in up.events)}


def _own_lines(text: str, port: int) -> list[str]:
    """The metric lines of one listener (a shared server also holds other tests' counters), normalised."""
    namer = PortNamer()
    return [namer(line) for line in text.splitlines() if f'listener="127.0.0.1:{port}"' in line]


@traffic(during=EXACT, after=EXACT, status=EXACT, content_type=EXACT)
async def metrics_after_traffic(api: ApiClient) -> dict[str, Any]:
    async with Upstream("echo") as up:
        port = await api.create("t", up.addr)
        reader, writer = await connect(port)
        await rtt(reader, writer, b"m" * 1000)
        await rtt(reader, writer, b"n" * 24)
        _, during = await api.call("GET", "/metrics", record=False)
        writer.close()
        await asyncio.sleep(0.3)
        async with api.http.get(f"{api.base}/metrics") as resp:
            after, status, content_type = await resp.text(), resp.status, resp.headers.get("Content-Type")
    return {
        "during": _own_lines(during, port),
        "after": _own_lines(after, port),
        "status": status,
        "content_type": content_type,
    }


def compare(expected: dict[str, Any], observed: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """Differences between two observation sets under ``spec`` (empty when they agree)."""
    problems: list[str] = []
    for key, rule in spec.items():
        want, got = expected.get(key), observed.get(key)
        if rule == EXACT:
            if want != got:
                problems.append(f"{key}: expected {json.dumps(want)}, got {json.dumps(got)}")
        elif rule[0] == "ms":
            _, tol_abs, tol_rel = rule
            if want is None or got is None:
                if want != got:
                    problems.append(f"{key}: expected {want}, got {got}")
            elif abs(got - want) > max(tol_abs, tol_rel * abs(want)):
                problems.append(
                    f"{key}: expected {want} ms, got {got} ms (tolerance {tol_abs} ms/{tol_rel:.0%})"
                )
        elif rule[0] == "range":
            _, lo, hi = rule
            if got is None or not lo <= got <= hi:
                problems.append(f"{key}: {got} outside [{lo}, {hi}]")
    return problems
