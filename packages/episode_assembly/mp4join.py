"""Joining mp4 scenes by copying their media bytes (the fast path of the stream-copy join).

When every scene is an mp4 with the same tracks, the same sample descriptions (stsd: codec,
decoder configuration) and the same timescales, the episode is the first scene's moov with every
track's sample tables joined, and one mdat that is the scenes' mdat payloads back to back, copied
by the kernel (copy_file_range) as `cp` does: no demuxing, no ffmpeg process, no second rewrite.
The moov comes first (the file plays while it downloads).

Timing follows each scene's edit list: a video track keeps the first scene's composition shift
(every scene must have the same one); an audio track's encoder priming (its edit's media time, a
whole first packet of AAC) is played for the first scene only: each later scene's priming packet
is left out of the tables (its bytes stay, unreferenced), so the sound never drifts from the
picture. Anything else (several mdat boxes, empty or partial edits, unknown sample-table boxes,
fragmented files) returns None from `plan()` and the caller joins with ffmpeg instead."""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from packages.episode_assembly.mp4boxes import (Unsupported, write_boxes, parse_boxes, find_box, full_box, runs, read_table,
                                                  header_time, with_duration)

COPYABLE = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4a"}  # H.264, HEVC, AAC: what the episode may carry
KNOWN_STBL = {b"stsd", b"stts", b"ctts", b"stss", b"stsz", b"stsc", b"stco", b"co64", b"sdtp", b"sgpd", b"sbgp"}


def _descriptor(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of the MPEG-4 descriptor at `at` (esds)."""
    tag, length, at = data[at], 0, at + 1
    for _ in range(4):
        byte, at = data[at], at + 1
        length = length << 7 | byte & 0x7F
        if not byte & 0x80:
            break
    return tag, at, at + length


def _esds_key(payload: bytes) -> bytes:
    """An esds without its bitrate fields (they differ from scene to scene; the decoder ignores them)."""
    tag, at, _ = _descriptor(payload, 4)
    if tag != 3:
        raise Unsupported("an unusual esds")
    flags, at = payload[at + 2], at + 3
    at += 2 * bool(flags & 0x80) + (1 + payload[at]) * bool(flags & 0x40) + 2 * bool(flags & 0x20)
    tag, body, _ = _descriptor(payload, at)
    if tag != 4:
        raise Unsupported("an unusual esds")
    return payload[:body + 5] + payload[body + 13:]


def _stsd_key(stsd: bytes, handler: bytes) -> bytes:
    """The sample description as the decoder sees it: without btrt (bitrates) and esds bitrates."""
    entries = parse_boxes(stsd[8:])
    fixed = {b"vide": 78, b"soun": 28}.get(handler)
    if len(entries) != 1 or fixed is None or (handler == b"soun" and entries[0][1][8:10] != b"\0\0"):
        raise Unsupported("an unusual sample description")
    kind, entry = entries[0]
    if kind not in COPYABLE:
        raise Unsupported("a codec an mp4 player may not read")
    children = [[k, _esds_key(p) if k == b"esds" else p] for k, p in parse_boxes(entry[fixed:]) if k != b"btrt"]
    return kind + entry[:fixed] + write_boxes(children)


@dataclass
class Track:
    """One scene's track, every table expanded to one entry per sample or per chunk."""
    handler: bytes
    timescale: int
    stsd: bytes
    edit: tuple[int, int] | None  # (segment duration in the movie's timescale, media time) or None
    durations: list[int]
    sizes: list[int]
    offsets: list[int]  # chunk offsets
    per_chunk: list[int]  # samples in each chunk
    composition: list[int] | None
    ctts_version: int
    sync: list[bool] | None
    sdtp: list[int] | None
    groups: list[tuple[bytes, bytes, list[int]]] = field(default_factory=list)  # (type, sgpd, index per sample)

    def drop_first(self) -> None:
        """Leaves the first sample out (its bytes stay in the mdat, unreferenced)."""
        size = self.sizes.pop(0)
        self.durations.pop(0)
        for values in (self.composition, self.sync, self.sdtp, *(g[2] for g in self.groups)):
            if values is not None:
                values.pop(0)
        self.offsets[0] += size
        self.per_chunk[0] -= 1
        if self.per_chunk[0] == 0:
            self.offsets.pop(0)
            self.per_chunk.pop(0)


def _track(trak: list[list]) -> Track:
    stbl = find_box(trak, b"mdia", b"minf", b"stbl")
    if stbl is None or any(kind not in KNOWN_STBL for kind, _ in stbl):
        raise Unsupported("an unknown sample table")
    tables = dict(stbl)
    timescale, _ = header_time(find_box(trak, b"mdia", b"mdhd"))
    edit = None
    elst = find_box(trak, b"edts", b"elst")
    if elst is not None:
        entries = read_table(elst, ">QqI" if elst[0] == 1 else ">IiI")
        if len(entries) != 1 or entries[0][1] < 0 or entries[0][2] != 0x10000:
            raise Unsupported("an edit list other than one plain edit")
        edit = entries[0][:2]
    durations = [d for count, d in read_table(tables[b"stts"], ">II") for _ in range(count)]
    size, count = struct.unpack(">II", tables[b"stsz"][4:12])
    sizes = [size] * count if size else [s for (s,) in read_table(tables[b"stsz"], ">I", 12)]
    offsets = [o for (o,) in (read_table(tables[b"stco"], ">I") if b"stco" in tables else read_table(tables[b"co64"], ">Q"))]
    stsc = read_table(tables[b"stsc"], ">III")
    if any(index != 1 for _, _, index in stsc):
        raise Unsupported("several sample descriptions")
    per_chunk = []
    for n, (first, samples, _) in enumerate(stsc):
        last = stsc[n + 1][0] - 1 if n + 1 < len(stsc) else len(offsets)
        per_chunk += [samples] * (last - first + 1)
    composition = None
    if b"ctts" in tables:
        composition = [o for count, o in read_table(tables[b"ctts"], ">Ii" if tables[b"ctts"][0] else ">II")
                       for _ in range(count)]
    sync = None
    if b"stss" in tables:
        numbers = {n for (n,) in read_table(tables[b"stss"], ">I")}
        sync = [n + 1 in numbers for n in range(len(sizes))]
    sdtp = list(tables[b"sdtp"][4:4 + len(sizes)]) if b"sdtp" in tables else None
    groups = []
    for kind, payload in stbl:
        if kind == b"sbgp":
            grouping, skip = payload[4:8], 16 if payload[0] == 1 else 12
            descriptions = [p for k, p in stbl if k == b"sgpd" and p[4:8] == grouping]
            index = [i for count, i in read_table(payload, ">II", skip) for _ in range(count)]
            groups.append((grouping, descriptions[0] if descriptions else b"", index + [0] * (len(sizes) - len(index))))
    if len(durations) != len(sizes) or sum(per_chunk) != len(sizes) or (composition and len(composition) != len(sizes)):
        raise Unsupported("inconsistent sample tables")
    return Track(find_box(trak, b"mdia", b"hdlr")[8:12], timescale, tables[b"stsd"], edit, durations, sizes, offsets,
                 per_chunk, composition, tables[b"ctts"][0] if b"ctts" in tables else 0, sync, sdtp, groups)


@dataclass
class Scene:
    path: Path
    ftyp: bytes
    moov: list[list]
    mdat: tuple[int, int]  # payload start and end in the file
    tracks: list[Track]


def _top(path: Path) -> Scene:
    boxes = []
    with open(path, "rb") as fh:
        end, at = fh.seek(0, 2), 0
        while at + 8 <= end:
            fh.seek(at)
            size, kind = struct.unpack(">I4s", fh.read(8))
            head = 8
            if size == 1:
                size, head = struct.unpack(">Q", fh.read(8))[0], 16
            elif size == 0:
                size = end - at
            if size < head:
                raise Unsupported("a broken box")
            boxes.append((kind, at + head, min(at + size, end)))
            at += size
        kinds = [kind for kind, _, _ in boxes]
        if kinds.count(b"moov") != 1 or kinds.count(b"mdat") != 1 or b"moof" in kinds or b"ftyp" not in kinds:
            raise Unsupported("not one moov and one mdat")
        found = {kind: (a, b) for kind, a, b in boxes}
        reads = {}
        for kind in (b"ftyp", b"moov"):
            fh.seek(found[kind][0])
            reads[kind] = fh.read(found[kind][1] - found[kind][0])
    moov = parse_boxes(reads[b"moov"])
    tracks = [_track(payload) for kind, payload in moov if kind == b"trak"]
    start, stop = found[b"mdat"]
    if not tracks or any(not start <= o < stop for t in tracks for o in t.offsets):
        raise Unsupported("samples outside the mdat")
    return Scene(path, reads[b"ftyp"], moov, (start, stop), tracks)


def _stbl(track: Track, offsets: list[int], wide: bool) -> list[list]:
    n = len(track.sizes)
    boxes = [[b"stsd", track.stsd],
             [b"stts", full_box(0, struct.pack(">I", len(r := runs(track.durations)))
                             + b"".join(struct.pack(">II", c, d) for c, d in r))]]
    if track.composition is not None:
        signed = track.ctts_version or min(track.composition) < 0
        r = runs(track.composition)
        boxes.append([b"ctts", full_box(int(bool(signed)), struct.pack(">I", len(r)) + b"".join(
            struct.pack(">Ii" if signed else ">II", c, o) for c, o in r))])
    if track.sync is not None and not all(track.sync):
        numbers = [i + 1 for i, s in enumerate(track.sync) if s]
        boxes.append([b"stss", full_box(0, struct.pack(f">I{len(numbers)}I", len(numbers), *numbers))])
    if track.sdtp is not None:
        boxes.append([b"sdtp", full_box(0, bytes(track.sdtp))])
    chunks, first = [], 1
    for count, samples in runs(track.per_chunk):
        chunks.append(struct.pack(">III", first, samples, 1))
        first += count
    boxes.append([b"stsc", full_box(0, struct.pack(">I", len(chunks)) + b"".join(chunks))])
    same = len(set(track.sizes)) == 1
    boxes.append([b"stsz", full_box(0, struct.pack(">II", track.sizes[0] if same else 0, n)
                                 + (b"" if same else struct.pack(f">{n}I", *track.sizes)))])
    boxes.append([b"co64" if wide else b"stco", full_box(0, struct.pack(f">I{len(offsets)}{'Q' if wide else 'I'}",
                                                                      len(offsets), *offsets))])
    for grouping, description, index in track.groups:
        if description:
            boxes.append([b"sgpd", description])
        r = runs(index)
        boxes.append([b"sbgp", full_box(0, grouping + struct.pack(">I", len(r))
                                     + b"".join(struct.pack(">II", c, i) for c, i in r))])
    return boxes


@dataclass
class Joined:
    scenes: list[Scene]
    tracks: list[Track]  # the joined tracks, chunk offsets relative to the joined mdat payload
    segments: list[int]  # each track's presentation length in the movie's timescale
    movie_timescale: int

    @property
    def duration_s(self) -> float:
        return max(self.segments) / self.movie_timescale


def _frame(track: Track) -> int:
    """The usual frame duration (the frame rate): scenes of another rate are re-encoded."""
    return Counter(track.durations).most_common(1)[0][0] if track.durations else 0


def _join_track(scenes: list[Scene], index: int, movie_ts: int, bases: list[int]) -> tuple[Track, int]:
    base = scenes[0].tracks[index]
    if base.handler not in (b"vide", b"soun"):
        raise Unsupported("a track that is neither picture nor sound")
    shift = base.edit[1] if base.edit else 0
    joined = Track(base.handler, base.timescale, base.stsd, base.edit, [], [], [], [], [] if base.composition else None,
                   base.ctts_version, [] if base.sync is not None else None, [] if base.sdtp is not None else None,
                   [(g, d, []) for g, d, _ in base.groups])
    segment = 0
    for k, scene in enumerate(scenes):
        track = scene.tracks[index]
        if (track.handler, track.timescale) != (base.handler, base.timescale) or \
                _stsd_key(track.stsd, track.handler) != _stsd_key(base.stsd, base.handler) or \
                [(g, d) for g, d, _ in track.groups] != [(g, d) for g, d, _ in base.groups] or \
                (track.sync is None) != (base.sync is None) or (track.sdtp is None) != (base.sdtp is None) or \
                (track.composition is None) != (base.composition is None):
            raise Unsupported("scenes whose tracks differ")
        media_time = track.edit[1] if track.edit else 0
        if base.handler == b"vide" and (media_time != shift or _frame(track) != _frame(base)):
            raise Unsupported("scenes with another composition shift")
        dropped = 0
        if base.handler == b"soun" and k > 0:
            while dropped < media_time and track.sizes:
                dropped += track.durations[0]
                track.drop_first()
        if dropped != (media_time if base.handler == b"soun" and k > 0 else 0):
            raise Unsupported("priming that is not whole packets")
        media = sum(track.durations) - (media_time if base.handler == b"soun" and k == 0 else 0)
        length = track.edit[0] if track.edit else round(media * movie_ts / track.timescale)
        if abs(media - length * track.timescale / movie_ts) > track.timescale / movie_ts + 1:
            raise Unsupported("an edit that cuts the media short")
        segment += length
        joined.durations += track.durations
        joined.sizes += track.sizes
        joined.per_chunk += track.per_chunk
        joined.offsets += [o - scene.mdat[0] + bases[k] for o in track.offsets]
        joined.ctts_version = max(joined.ctts_version, track.ctts_version)
        for mine, theirs in ((joined.composition, track.composition), (joined.sync, track.sync),
                             (joined.sdtp, track.sdtp)):
            if mine is not None:
                mine += theirs
        for (_, _, mine), (_, _, theirs) in zip(joined.groups, track.groups):
            mine += theirs
    return joined, segment


def plan(paths: list[Path]) -> Joined | None:
    """How the scenes join byte for byte, or None when they need ffmpeg (see the module doc)."""
    try:
        scenes = [_top(p) for p in paths]
        movie_ts = header_time(find_box(scenes[0].moov, b"mvhd"))[0]
        if any(header_time(find_box(s.moov, b"mvhd"))[0] != movie_ts or len(s.tracks) != len(scenes[0].tracks)
               for s in scenes):
            raise Unsupported("scenes with other tracks")
        bases, at = [], 0
        for scene in scenes:
            bases.append(at)
            at += scene.mdat[1] - scene.mdat[0]
        tracks, segments = zip(*(_join_track(scenes, i, movie_ts, bases) for i in range(len(scenes[0].tracks))))
        return Joined(scenes, list(tracks), list(segments), movie_ts)
    except (Unsupported, KeyError, IndexError, TypeError, struct.error):
        return None


def _moov(joined: Joined, base: int, wide: bool) -> bytes:
    first = joined.scenes[0]
    tracks = iter(zip(joined.tracks, joined.segments))
    out = []
    for kind, payload in first.moov:
        if kind == b"mvhd":
            payload = with_duration(kind, payload, max(joined.segments))
        elif kind == b"trak":
            track, segment = next(tracks)
            payload = _trak(payload, track, segment, [o + base for o in track.offsets], wide)
        out.append([kind, payload])
    return write_boxes([[b"moov", out]])


def _trak(trak: list[list], track: Track, segment: int, offsets: list[int], wide: bool) -> list[list]:
    def rebuild(boxes: list[list]) -> list[list]:
        out = []
        for kind, payload in boxes:
            if kind == b"tkhd":
                payload = with_duration(kind, payload, segment)
            elif kind == b"mdhd":
                payload = with_duration(kind, payload, sum(track.durations))
            elif kind == b"elst":
                version = payload[0]
                payload = full_box(version, struct.pack(">I", 1) + struct.pack(
                    ">QqI" if version == 1 else ">IiI", segment, track.edit[1], 0x10000))
            elif kind == b"stbl":
                payload = _stbl(track, offsets, wide)
            elif isinstance(payload, list):
                payload = rebuild(payload)
            out.append([kind, payload])
        return out
    return rebuild(trak)


def write(joined: Joined, out: Path, on_copied=None) -> None:
    """Writes the joined episode: ftyp, moov, then one mdat of the scenes' media copied by the
    kernel. `on_copied(done_bytes, total_bytes)` is called after each scene."""
    payload = sum(s.mdat[1] - s.mdat[0] for s in joined.scenes)
    ftyp = write_boxes([[b"ftyp", joined.scenes[0].ftyp]])
    wide = False
    size = len(ftyp) + len(_moov(joined, 0, wide)) + 16
    if size + payload >= 1 << 32:
        wide = True
        size = len(ftyp) + len(_moov(joined, 0, wide)) + 16
    head = ftyp + _moov(joined, size, wide) + struct.pack(">I4sQ", 1, b"mdat", 16 + payload)
    with open(out, "wb") as dst:
        dst.write(head)
        dst.flush()
        done = 0
        for scene in joined.scenes:
            with open(scene.path, "rb") as src:
                _copy(src.fileno(), dst.fileno(), scene.mdat[0], scene.mdat[1] - scene.mdat[0], len(head) + done)
            done += scene.mdat[1] - scene.mdat[0]
            if on_copied is not None:
                on_copied(done, payload)


def _copy(src: int, dst: int, offset: int, count: int, at: int) -> None:
    """`count` bytes from `offset` in src to `at` in dst, in the kernel where it can."""
    while count > 0:
        try:
            moved = os.copy_file_range(src, dst, count, offset, at)
        except OSError:
            moved = 0
        if moved <= 0:  # another filesystem or an old kernel: plain reads and writes
            chunk = os.pread(src, min(count, 8 << 20), offset)
            if not chunk:
                raise OSError("a scene file ended early")
            moved = os.pwrite(dst, chunk, at)
        offset, at, count = offset + moved, at + moved, count - moved
