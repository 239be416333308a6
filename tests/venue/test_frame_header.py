"""The venue's own data-frame header encoder agrees with websockets' frame parser."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from mock_venues.base.session import text_frame_header


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_header_round_trips_through_the_websockets_parser(length: int) -> None:
    payload = b"x" * length
    reader = StreamReader()
    reader.feed_data(text_frame_header(length) + payload)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:  # pragma: no cover - the parser wanted more bytes than the frame has
        pytest.fail("incomplete frame")
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
