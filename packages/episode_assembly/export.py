"""Editorial export: an episode's timeline (its scenes in order, as cuts) through OpenTimelineIO to
a CMX3600 EDL, FCP 7 XML or OTIO JSON, so an editor can finish the cut in Resolve or Premiere.

Media paths are either relative to ANIME_STUDIO_HOME (save the export there, or relink from it)
or absolute `file://` URLs. Durations are whole frames at the episode's frame rate (the first
scene's, as in the re-encoded assembly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

FORMATS = {  # format -> (OTIO adapter, media type, file extension)
    "edl": ("cmx_3600", "text/plain", "edl"),
    "fcpxml": ("fcp_xml", "application/xml", "xml"),
    "otio": ("otio_json", "application/json", "otio"),
}


@dataclass
class TimelineClip:
    name: str
    path: Path  # absolute
    duration_s: float


def media_url(path: Path, home: Path, paths: str) -> str:
    if paths == "relative":
        return path.resolve().relative_to(home.resolve()).as_posix()
    return path.resolve().as_uri()


def build(title: str, clips: list[TimelineClip], fps: float, home: Path, paths: str = "relative") -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name=title)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for clip in clips:
        frames = max(1, round(clip.duration_s * fps))
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(frames, fps))
        reference = otio.schema.ExternalReference(target_url=media_url(clip.path, home, paths), available_range=span)
        track.append(otio.schema.Clip(name=clip.name, media_reference=reference, source_range=span))
    return timeline


def render(timeline: otio.schema.Timeline, fmt: str) -> bytes:
    adapter, _, _ = FORMATS[fmt]
    return otio.adapters.write_to_string(timeline, adapter_name=adapter).encode("utf-8")
