"""ISO-BMFF (mp4) boxes for mp4join: parsing a moov into nested [kind, payload] lists, writing
them back, and the table and header fields the join reads and rewrites."""

from __future__ import annotations

import struct

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


class Unsupported(Exception):
    """The scenes are not simple enough for the byte join; ffmpeg joins them."""


def parse_boxes(data: bytes) -> list[list]:
    """[kind, payload] of each box in `data`; containers' payloads are parsed into lists too."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = len(data) - at
        if size < head or at + size > len(data):
            raise Unsupported("a broken box")
        payload = data[at + head:at + size]
        boxes.append([kind, parse_boxes(payload) if kind in CONTAINERS else payload])
        at += size
    return boxes


def write_boxes(boxes: list[list]) -> bytes:
    out = bytearray()
    for kind, payload in boxes:
        body = write_boxes(payload) if isinstance(payload, list) else payload
        out += struct.pack(">I4s", 8 + len(body), kind) + body
    return bytes(out)


def find_box(boxes: list[list], *path: bytes):
    for kind, payload in boxes:
        if kind == path[0]:
            return payload if len(path) == 1 else find_box(payload, *path[1:])
    return None


def read_table(payload: bytes, fmt: str, skip: int = 8) -> list[tuple]:
    count = struct.unpack(">I", payload[skip - 4:skip])[0]
    width = struct.calcsize(fmt)
    return list(struct.iter_unpack(fmt, payload[skip:skip + count * width]))


def header_time(payload: bytes) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd payload."""
    if payload[0] == 1:
        return struct.unpack(">IQ", payload[20:32])
    return struct.unpack(">II", payload[12:20])


def with_duration(kind: bytes, payload: bytes, duration: int) -> bytes:
    at = {b"tkhd": (28, 20), b"mvhd": (24, 16), b"mdhd": (24, 16)}[kind][payload[0] != 1]
    if payload[0] == 1:
        return payload[:at] + struct.pack(">Q", duration) + payload[at + 8:]
    if duration >= 1 << 32:
        raise Unsupported("a duration too long for a version 0 header")
    return payload[:at] + struct.pack(">I", duration) + payload[at + 4:]


def runs(values: list) -> list[tuple[int, object]]:
    out: list[list] = []
    for value in values:
        if out and out[-1][1] == value:
            out[-1][0] += 1
        else:
            out.append([1, value])
    return [(count, value) for count, value in out]


def full_box(version: int, body: bytes) -> bytes:
    return struct.pack(">I", version << 24) + body
