"""The Toxiproxy data model: toxic types and their attributes, toxic and proxy JSON, request schemas.

Pure data and validation, no I/O. Field names, Go type names (they appear in error messages), defaults and
JSON field order follow toxiproxy-server v2.12.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultproxy.gojson import (
    INT64_MAX,
    GoBool,
    GoFloat32,
    GoIface,
    GoInt,
    GoPtr,
    GoSlice,
    GoString,
    GoStruct,
    encode_string,
    format_float32,
)

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
DIRECTIONS = (UPSTREAM, DOWNSTREAM)
LATENCY_BUFFER = 1024  # chunks a latency toxic may hold before the link stops reading


@dataclass(frozen=True)
class ToxicType:
    """One registered toxic type: its Go struct name and its integer attributes, in JSON order."""

    name: str
    struct_name: str
    attributes: tuple[tuple[str, str], ...]  # (json name, Go type name: "int64" or "int")
    buffer_size: int = 0

    @property
    def schema(self) -> GoStruct:
        """The attribute struct as the Go decoder sees it."""
        return GoStruct(
            self.struct_name,
            f"toxics.{self.struct_name}",
            [(attr, GoInt(go_name=kind)) for attr, kind in self.attributes],
        )

    def defaults(self) -> dict[str, int]:
        """All attributes at their zero value."""
        return {attr: 0 for attr, _ in self.attributes}


TOXIC_TYPES: dict[str, ToxicType] = {
    t.name: t
    for t in (
        ToxicType("latency", "LatencyToxic", (("latency", "int64"), ("jitter", "int64")), LATENCY_BUFFER),
        ToxicType("bandwidth", "BandwidthToxic", (("rate", "int64"),)),
        ToxicType("slow_close", "SlowCloseToxic", (("delay", "int64"),)),
        ToxicType("timeout", "TimeoutToxic", (("timeout", "int64"),)),
        ToxicType("reset_peer", "ResetToxic", (("timeout", "int64"),)),
        ToxicType(
            "slicer", "SlicerToxic", (("average_size", "int"), ("size_variation", "int"), ("delay", "int"))
        ),
        ToxicType("limit_data", "LimitDataToxic", (("bytes", "int64"),)),
        ToxicType("noop", "NoopToxic", ()),
    )
}

NOOP_SCHEMA = TOXIC_TYPES["noop"].schema

# Request body schemas (what the real server decodes each body into).
PROXY_SCHEMA = GoStruct(
    "Proxy",
    "toxiproxy.Proxy",
    [
        ("name", GoString()),
        ("listen", GoString()),
        ("upstream", GoString()),
        ("enabled", GoBool()),
        ("Logger", GoPtr(GoStruct("Logger", "zerolog.Logger", []))),
    ],
)
POPULATE_SCHEMA = GoSlice(
    GoStruct(
        "",
        'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
        [*PROXY_SCHEMA.fields[:3], PROXY_SCHEMA.fields[4], ("enabled", GoPtr(GoBool()))],
    )
)
TOXIC_WRAPPER_SCHEMA = GoStruct(
    "ToxicWrapper",
    "toxics.ToxicWrapper",
    [
        ("attributes", GoIface(NOOP_SCHEMA, iface_name="toxics.Toxic", empty=False)),
        ("name", GoString()),
        ("type", GoString()),
        ("stream", GoString()),
        ("toxicity", GoFloat32()),
    ],
)


def attributes_schema(toxic_type: ToxicType) -> GoStruct:
    """The second decoding pass of a toxic creation: only ``attributes``, now with the real type."""
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\"" }',
        [("attributes", GoIface(toxic_type.schema))],
    )


def update_schema(toxic_type: ToxicType) -> GoStruct:
    """What a toxic update body is decoded into: attributes (merged) and toxicity."""
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }',
        [("attributes", GoIface(toxic_type.schema)), ("toxicity", GoFloat32())],
    )


def parse_direction(stream: str) -> str | None:
    """``upstream``/``downstream`` in any letter case, else None."""
    lowered = stream.lower()
    return lowered if lowered in DIRECTIONS else None


# Deliberate differences: attribute values that crash or hang toxiproxy-server v2.12.0 are refused.
MAX_BANDWIDTH_RATE = INT64_MAX // 100
MAX_JITTER = INT64_MAX // 2


def unsafe_attributes(type_name: str, attrs: dict[str, int]) -> str | None:
    """Why these attributes would crash or hang the real server (the embedded one answers 400), or None."""
    if type_name == "slicer":
        average, variation = attrs["average_size"], attrs["size_variation"]
        if average < 1:
            return (
                "slicer average_size must be at least 1 (with average_size 0 toxiproxy-server splits the "
                "data forever and dies of a stack overflow)"
            )
        if average + variation < 1:
            return (
                "slicer average_size + size_variation must be at least 1 (toxiproxy-server splits such "
                "a slicer's data forever and dies of a stack overflow)"
            )
        if variation >= average + 2:
            return (
                "slicer size_variation must be at most average_size + 1 (toxiproxy-server can cut outside "
                "the data with a larger variation and crash)"
            )
    elif type_name == "bandwidth":
        if attrs["rate"] < 0:
            return "bandwidth rate must not be negative (a negative rate crashes toxiproxy-server)"
        if attrs["rate"] > MAX_BANDWIDTH_RATE:
            return (
                f"bandwidth rate must be at most {MAX_BANDWIDTH_RATE} (larger rates crash toxiproxy-server)"
            )
    elif type_name == "latency" and attrs["jitter"] > MAX_JITTER:
        return f"latency jitter must be at most {MAX_JITTER} (larger values crash toxiproxy-server)"
    return None


@dataclass
class Toxic:
    """A configured toxic (the API's ``ToxicWrapper``)."""

    name: str
    type: str
    stream: str  # as the client sent it; the direction is its lower-cased form
    direction: str
    toxicity: float  # a float32 value
    attributes: dict[str, int] = field(default_factory=dict)

    @property
    def toxic_type(self) -> ToxicType:
        """The registered type."""
        return TOXIC_TYPES[self.type]

    def to_json(self) -> str:
        """Serialised exactly like the real server (field order, float32 toxicity)."""
        attrs = ",".join(f"{encode_string(k)}:{v}" for k, v in self.attributes.items())
        return (
            f'{{"attributes":{{{attrs}}},"name":{encode_string(self.name)},"type":{encode_string(self.type)},'
            f'"stream":{encode_string(self.stream)},"toxicity":{format_float32(self.toxicity)}}}'
        )

    def to_dict(self) -> dict[str, Any]:
        """The same as plain data."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def proxy_json(name: str, listen: str, upstream: str, enabled: bool, toxics: list[Toxic]) -> str:
    """A proxy object as the real server prints it, stray ``"Logger":{}`` included."""
    return (
        f'{{"name":{encode_string(name)},"listen":{encode_string(listen)},'
        f'"upstream":{encode_string(upstream)},"enabled":{"true" if enabled else "false"},'
        f'"Logger":{{}},"toxics":[{",".join(t.to_json() for t in toxics)}]}}'
    )


def error_json(message: str, status: int) -> str:
    """The API error object."""
    return f'{{"error":{encode_string(message)},"status":{status}}}'
