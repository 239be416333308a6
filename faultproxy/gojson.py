"""Go ``encoding/json`` behaviour, as far as the Toxiproxy API exposes it.

Toxiproxy decodes request bodies with Go's ``json.Decoder`` into Go structs and echoes the decoder's error
text in its 400 answers, so a compatible server must reproduce that text. This module does, for the types
the API uses:

- :func:`scan` reads the first JSON value of a body the way ``Decoder.Decode`` does (trailing bytes are
  ignored; an empty body is ``EOF``, a truncated one ``unexpected EOF``; syntax errors carry Go's wording).
- :func:`decode` stores a scanned value into a target described by the ``Go*`` type classes, matching
  object keys case-insensitively and keeping the first type error, worded like ``UnmarshalTypeError``.
- :func:`encode_string` and :func:`format_float32` print strings and float32 values like ``json.Marshal``.

Written from Go's documented behaviour and observation of the real server; no Go code is reproduced.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GoAny",
    "GoBool",
    "GoFloat32",
    "GoIface",
    "GoInt",
    "GoPtr",
    "GoSlice",
    "GoString",
    "GoStruct",
    "GoType",
    "JSONError",
    "Number",
    "decode",
    "encode_string",
    "format_float32",
    "is_array",
    "is_object",
    "parse_body",
    "scan",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_DEPTH = 10000
"""Go's scanner nesting limit: the 10001st open ``[`` is ``invalid character '[' exceeded max depth``."""
_WS = b" \t\n\r"
_INT_RE = re.compile(r"-?[0-9]+\Z")


class JSONError(Exception):
    """A decoding error; ``str()`` is Go's message (e.g. ``unexpected EOF``)."""


@dataclass(frozen=True)
class Number:
    """A JSON number kept as its literal text (Go decides per target type how to parse it)."""

    text: str


class _Obj(list):  # type: ignore[type-arg,unused-ignore]
    """A scanned JSON object: a list of (key, value) pairs in document order, duplicates kept."""


class _Null:
    """The JSON ``null`` literal."""

    def __repr__(self) -> str:
        return "null"


NULL = _Null()


# --------------------------------------------------------------------------------------------- scanning
def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how the scanner names an offending byte."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    return "'" + _go_quote_rune(c) + "'"


def _go_quote_rune(r: int) -> str:
    """The inside of ``strconv.Quote(string(rune(r)))`` for one rune."""
    named = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 0x5C: "\\\\"}
    if r in named:
        return named[r]
    if r < 0x20 or r == 0x7F:
        return f"\\x{r:02x}"
    ch = chr(r)
    if ch.isprintable() or r == 0x20:
        return ch
    if r < 0x10000:
        return f"\\u{r:04x}"
    return f"\\U{r:08x}"


class _Scanner:
    """Recursive-descent reader of one JSON value with Go's scanner error messages."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def error(self, c: int, context: str) -> JSONError:
        return JSONError(f"invalid character {_quote_char(c)} {context}")

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise JSONError("unexpected EOF")
        return self.data[self.pos]

    def skip_ws(self) -> None:
        data = self.data
        n = len(data)
        while self.pos < n and data[self.pos] in _WS:
            self.pos += 1

    def value(self) -> Any:
        """One JSON value. Containers are walked with an explicit stack, not Python recursion, so any
        nesting up to Go's limit (:data:`MAX_DEPTH`) is read without hitting the interpreter's."""
        # Open containers, innermost last: an _Obj with the key its next value belongs to, or a list.
        stack: list[tuple[list[Any], str | None]] = []
        while True:
            self.skip_ws()
            c = self.peek()
            result: Any
            if c == 0x7B or c == 0x5B:
                self.pos += 1
                self._nest(c)
                self.skip_ws()
                if self.peek() == (0x7D if c == 0x7B else 0x5D):
                    self.pos += 1
                    self.depth -= 1
                    result = _Obj() if c == 0x7B else []
                else:
                    stack.append((_Obj(), self.key()) if c == 0x7B else ([], None))
                    continue
            else:
                result = self.scalar(c)
            # Store the finished value in its container; close every container that ends here.
            while True:
                if not stack:
                    return result
                container, key = stack[-1]
                self.skip_ws()
                c = self.peek()
                if key is None:
                    container.append(result)
                    end, context = 0x5D, "after array element"
                else:
                    container.append((key, result))
                    end, context = 0x7D, "after object key:value pair"
                if c == 0x2C:
                    self.pos += 1
                    if key is not None:
                        stack[-1] = (container, self.key())
                    break
                if c != end:
                    raise self.error(c, context)
                self.pos += 1
                self.depth -= 1
                stack.pop()
                result = container

    def scalar(self, c: int) -> Any:
        """A string, number or literal starting with byte ``c``."""
        if c == 0x22:
            return self.string()
        if c == 0x2D or 0x30 <= c <= 0x39:
            return self.number()
        if c == 0x74:
            self.literal(b"true")
            return True
        if c == 0x66:
            self.literal(b"false")
            return False
        if c == 0x6E:
            self.literal(b"null")
            return NULL
        raise self.error(c, "looking for beginning of value")

    def _nest(self, c: int) -> None:
        """Enter a container opened by byte ``c``; Go refuses the one that would exceed MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(c, "exceeded max depth")

    def key(self) -> str:
        """An object key and the colon after it."""
        self.skip_ws()
        c = self.peek()
        if c != 0x22:
            raise self.error(c, "looking for beginning of object key string")
        key = self.string()
        self.skip_ws()
        c = self.peek()
        if c != 0x3A:
            raise self.error(c, "after object key")
        self.pos += 1
        return key

    def string(self) -> str:
        data = self.data
        start = self.pos + 1
        i = start
        n = len(data)
        escaped = False
        while True:
            if i >= n:
                self.pos = i
                raise JSONError("unexpected EOF")
            c = data[i]
            if c == 0x22:
                break
            if c == 0x5C:
                escaped = True
                i += 1
                if i >= n:
                    self.pos = i
                    raise JSONError("unexpected EOF")
                e = data[i]
                if e == 0x75:
                    for k in range(1, 5):
                        if i + k >= n:
                            self.pos = i + k
                            raise JSONError("unexpected EOF")
                        h = data[i + k]
                        if not (0x30 <= h <= 0x39 or 0x61 <= h <= 0x66 or 0x41 <= h <= 0x46):
                            raise self.error(h, "in \\u hexadecimal character escape")
                    i += 5
                    continue
                if e not in b'"\\/bfnrt':
                    raise self.error(e, "in string escape code")
                i += 1
                continue
            if c < 0x20:
                raise self.error(c, "in string literal")
            i += 1
        raw = data[start:i]
        self.pos = i + 1
        return _unquote(raw) if escaped else raw.decode("utf-8", errors="replace")

    def number(self) -> Number:
        data = self.data
        n = len(data)
        start = self.pos
        i = start

        def at(k: int) -> int:
            if k >= n:
                raise JSONError("unexpected EOF")
            return data[k]

        if data[i] == 0x2D:
            i += 1
            c = at(i)
            if not 0x30 <= c <= 0x39:
                raise self.error(c, "in numeric literal")
        if data[i] == 0x30:
            i += 1
        else:
            while i < n and 0x30 <= data[i] <= 0x39:
                i += 1
        if i < n and data[i] == 0x2E:
            i += 1
            c = at(i)
            if not 0x30 <= c <= 0x39:
                raise self.error(c, "after decimal point in numeric literal")
            while i < n and 0x30 <= data[i] <= 0x39:
                i += 1
        if i < n and data[i] in b"eE":
            i += 1
            c = at(i)
            if c in b"+-":
                i += 1
                c = at(i)
            if not 0x30 <= c <= 0x39:
                raise self.error(c, "in exponent of numeric literal")
            while i < n and 0x30 <= data[i] <= 0x39:
                i += 1
        self.pos = i
        return Number(data[start:i].decode("ascii"))

    def literal(self, word: bytes) -> None:
        name = word.decode()
        for k in range(1, len(word)):
            c = self.peek_at(self.pos + k)
            if c != word[k]:
                raise self.error(c, f"in literal {name} (expecting {_quote_char(word[k])})")
        self.pos += len(word)

    def peek_at(self, k: int) -> int:
        if k >= len(self.data):
            raise JSONError("unexpected EOF")
        return self.data[k]


def _unquote(raw: bytes) -> str:
    """Decode the inside of a JSON string that contains escapes (Go: bad surrogates become U+FFFD)."""
    out: list[str] = []
    i = 0
    n = len(raw)
    simple = {0x22: '"', 0x5C: "\\", 0x2F: "/", 0x62: "\b", 0x66: "\f", 0x6E: "\n", 0x72: "\r", 0x74: "\t"}
    run_start = 0
    while i < n:
        if raw[i] != 0x5C:
            i += 1
            continue
        out.append(raw[run_start:i].decode("utf-8", errors="replace"))
        e = raw[i + 1]
        if e != 0x75:
            out.append(simple[e])
            i += 2
        else:
            code = int(raw[i + 2 : i + 6], 16)
            i += 6
            if 0xD800 <= code < 0xDC00 and i + 6 <= n and raw[i] == 0x5C and raw[i + 1] == 0x75:
                low = int(raw[i + 2 : i + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                else:
                    code = 0xFFFD
            elif 0xD800 <= code < 0xE000:
                code = 0xFFFD
            out.append(chr(code))
        run_start = i
    out.append(raw[run_start:].decode("utf-8", errors="replace"))
    return "".join(out)


def scan(body: bytes) -> Any:
    """The first JSON value of ``body`` as Python data (objects as key/value lists, numbers as Number)."""
    scanner = _Scanner(body)
    scanner.skip_ws()
    if scanner.pos >= len(body):
        raise JSONError("EOF")
    return scanner.value()


# ------------------------------------------------------------------------------------------ Go types
class GoType:
    """A Go type a JSON value can be stored into; ``go_name`` is how Go prints it in errors."""

    go_name = "?"


@dataclass
class GoString(GoType):
    go_name: str = "string"


@dataclass
class GoBool(GoType):
    go_name: str = "bool"


@dataclass
class GoInt(GoType):
    go_name: str = "int64"


@dataclass
class GoFloat32(GoType):
    go_name: str = "float32"


@dataclass
class GoAny(GoType):
    """``interface{}`` with nothing in it: accepts anything."""

    go_name: str = "interface {}"


@dataclass
class GoStruct(GoType):
    """A struct: ``name`` is its bare name (``""`` for anonymous), ``go_name`` the printed type."""

    name: str
    go_name: str
    fields: list[tuple[str, GoType]] = field(default_factory=list)

    def find(self, key: str) -> tuple[str, GoType] | None:
        """Go's field lookup: exact name first, then the first case-insensitive match."""
        for fname, ftype in self.fields:
            if fname == key:
                return fname, ftype
        folded = _fold(key)
        for fname, ftype in self.fields:
            if _fold(fname) == folded:
                return fname, ftype
        return None


@dataclass
class GoPtr(GoType):
    """A pointer to ``elem``; errors name the element type."""

    elem: GoType

    @property
    def go_name(self) -> str:  # type: ignore[override]
        return self.elem.go_name


@dataclass
class GoIface(GoType):
    """An interface field that holds a pointer to ``elem`` (a struct): objects decode into it.

    ``empty`` tells ``interface{}`` (anything goes once it is nil) from a method interface such as
    ``toxics.Toxic`` (nothing but null can be stored once it is nil); ``iface_name`` is its printed name.
    """

    elem: GoStruct
    iface_name: str = "interface {}"
    empty: bool = True

    @property
    def go_name(self) -> str:  # type: ignore[override]
        return self.elem.go_name


@dataclass
class GoSlice(GoType):
    elem: GoType

    @property
    def go_name(self) -> str:  # type: ignore[override]
        return "[]" + self.elem.go_name


def _fold(text: str) -> str:
    """Case folding close to Go's ``bytes.EqualFold`` (simple folding, with the long s and Kelvin sign)."""
    return text.replace("\u017f", "s").replace("\u212a", "k").lower()


# -------------------------------------------------------------------------------------------- decoding
class _Ctx:
    """Error context (innermost struct name and field path) plus the first error seen."""

    def __init__(self) -> None:
        self.struct: str | None = None
        self.path: list[str] = []
        self.error: JSONError | None = None

    def type_error(self, value: str, target: GoType) -> None:
        if self.error is not None:
            return
        if self.struct is not None or self.path:
            where = f"Go struct field {self.struct or ''}.{'.'.join(self.path)}"
        else:
            where = "Go value"
        self.error = JSONError(f"json: cannot unmarshal {value} into {where} of type {target.go_name}")


def _kind_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Number):
        return "number"
    if isinstance(value, _Obj):
        return "object"
    return "array"


_UNSET = object()


def decode(value: Any, target: GoType, current: Any = _UNSET) -> Any:
    """Store ``value`` (from :func:`scan`) into ``target``; returns the new Go-side value.

    Structs are Python dicts keyed by field name (``current`` gives the starting values, as when Go
    decodes into a pre-filled struct). Raises :class:`JSONError` with the first type error, after the
    whole value was processed (as Go does).
    """
    ctx = _Ctx()
    result = _store(value, target, current, ctx)
    if ctx.error is not None:
        raise ctx.error
    return result


def _is_object(value: Any) -> bool:
    return isinstance(value, _Obj)


def is_object(value: Any) -> bool:
    """Whether a value from :func:`scan` is a JSON object."""
    return _is_object(value)


def is_array(value: Any) -> bool:
    """Whether a value from :func:`scan` is a JSON array."""
    return isinstance(value, list) and not _is_object(value)


def _store(value: Any, target: GoType, current: Any, ctx: _Ctx) -> Any:
    if value is NULL:
        if isinstance(target, GoPtr | GoSlice | GoAny):
            return None
        if isinstance(target, GoIface):
            return None
        return current
    if isinstance(target, GoPtr):
        if current is None or current is _UNSET:
            current = _zero(target.elem)
        return _store(value, target.elem, current, ctx)
    if isinstance(target, GoIface):
        if current is None:
            if target.empty:
                return _plain(value)
            ctx.type_error(_kind_name(value), _NamedType(target.iface_name))
            return current
        return _store(value, target.elem, current, ctx)
    if isinstance(target, GoAny):
        return _plain(value)
    if _is_object(value):
        if isinstance(target, GoStruct):
            return _store_struct(value, target, current, ctx)
        ctx.type_error("object", target)
        return current
    if isinstance(value, list):
        if isinstance(target, GoSlice):
            items = []
            for item in value:
                saved = (ctx.struct, list(ctx.path))
                ctx.struct, ctx.path = None, []
                items.append(_store(item, target.elem, _zero(target.elem), ctx))
                ctx.struct, ctx.path = saved
            return items
        ctx.type_error("array", target)
        return current
    if isinstance(value, bool):
        if isinstance(target, GoBool):
            return value
        ctx.type_error("bool", target)
        return current
    if isinstance(value, str):
        if isinstance(target, GoString):
            return value
        ctx.type_error("string", target)
        return current
    if isinstance(value, Number):
        if isinstance(target, GoInt):
            if _INT_RE.match(value.text):
                number = int(value.text)
                if INT64_MIN <= number <= INT64_MAX:
                    return number
            ctx.type_error("number " + value.text, target)
            return current
        if isinstance(target, GoFloat32):
            parsed = float32_from_literal(value.text)
            if parsed is None:
                ctx.type_error("number " + value.text, target)
                return current
            return parsed
        ctx.type_error("number", target)
        return current
    raise TypeError(f"unexpected scanned value {value!r}")


@dataclass
class _NamedType(GoType):
    go_name: str = "?"


def _store_struct(items: list[tuple[str, Any]], target: GoStruct, current: Any, ctx: _Ctx) -> Any:
    result: dict[str, Any] = dict(current) if isinstance(current, dict) else _zero(target)
    for key, val in items:
        found = target.find(key)
        if found is None:
            continue
        fname, ftype = found
        saved = (ctx.struct, len(ctx.path))
        ctx.path.append(fname)
        ctx.struct = target.name
        result[fname] = _store(val, ftype, result.get(fname), ctx)
        ctx.struct = saved[0]
        del ctx.path[saved[1] :]
    return result


def _zero(target: GoType) -> Any:
    if isinstance(target, GoStruct):
        return {fname: _zero(ftype) for fname, ftype in target.fields}
    if isinstance(target, GoString):
        return ""
    if isinstance(target, GoBool):
        return False
    if isinstance(target, GoInt):
        return 0
    if isinstance(target, GoFloat32):
        return 0.0
    return None


def _plain(value: Any) -> Any:
    """A scanned value as plain Python data (what Go stores in an ``interface{}``), without recursion."""
    if not isinstance(value, list):
        return _plain_scalar(value)
    root: Any = {} if _is_object(value) else []
    pending: list[tuple[list[Any], Any]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        pairs = source if _is_object(source) else enumerate(source)
        for key, item in pairs:
            if isinstance(item, list):
                converted: Any = {} if _is_object(item) else []
                pending.append((item, converted))
            else:
                converted = _plain_scalar(item)
            if isinstance(target, dict):
                target[key] = converted
            else:
                target.append(converted)
    return root


def _plain_scalar(value: Any) -> Any:
    if value is NULL:
        return None
    if isinstance(value, Number):
        return float(value.text)
    return value


def float32_from_literal(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 32)``: the float32 value, or None when out of range."""
    number = float(text)
    if math.isinf(number):
        return None
    try:
        return float(struct.unpack("<f", struct.pack("<f", number))[0])
    except OverflowError:
        return None


def parse_body(body: bytes, target: GoType, current: Any = _UNSET) -> Any:
    """Decode a request body into ``target`` like ``json.NewDecoder(body).Decode(&v)``."""
    return decode(scan(body), target, current)


# ---------------------------------------------------------------------------------------------- encoding
_ESCAPES = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x3C: "\\u003c",
    0x3E: "\\u003e",
    0x26: "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def encode_string(text: str) -> str:
    """A JSON string literal as Go 1.19's ``json.Marshal`` writes it (HTML-safe escapes)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        esc = _ESCAPES.get(code)
        if esc is not None:
            out.append(esc)
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _shortest_digits32(value: float) -> tuple[str, int]:
    """Shortest decimal digits (and exponent of the first one) that round-trip through float32."""
    for precision in range(0, 10):
        text = f"{value:.{precision}e}"
        try:
            back = struct.unpack("<f", struct.pack("<f", float(text)))[0]
        except OverflowError:  # rounded past float32's largest value (3.4025e38 -> 3.403e38; tests/fuzz)
            continue
        if back == value:
            mantissa, exp = text.split("e")
            return mantissa.replace(".", "").rstrip("0") or "0", int(exp)
    mantissa, exp = f"{value:.8e}".split("e")
    return mantissa.replace(".", "").rstrip("0") or "0", int(exp)


def format_float32(value: float) -> str:
    """A float32 as ``json.Marshal`` prints it (``1``, ``0.5``, ``1e-7``, ``1e+21``, ``123456790``)."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, exp = _shortest_digits32(abs(value))
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_text = f"{'-' if exp < 0 else '+'}{abs(exp):02d}"
        if exp_text.startswith("-0"):
            exp_text = "-" + exp_text[2:]
        return f"{sign}{mantissa}e{exp_text}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"
