"""Editorial export: the episode's timeline as CMX3600 EDL, FCP 7 XML and OTIO JSON, read back by
OpenTimelineIO with the same clips, durations and media paths (relative to the home or absolute)."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from packages.episode_assembly import export

FPS = 24.0


def clips(home):
    return [export.TimelineClip("01 Opening", home / "output" / "p" / "scenes" / "scene1" / "scene.mp4", 2.0),
            export.TimelineClip("02 Rooftop", home / "output" / "p" / "scenes" / "scene2" / "scene.mp4", 1.5),
            export.TimelineClip("03 Night", home / "output" / "p" / "scenes" / "scene 3" / "scene.mp4", 3.25)]


@pytest.mark.parametrize(("fmt", "adapter", "extra"), [("edl", "cmx_3600", {"rate": FPS}),
                                                      ("fcpxml", "fcp_xml", {}), ("otio", "otio_json", {})])
@pytest.mark.parametrize("paths", ["relative", "absolute"])
def test_export_reads_back_with_the_same_clips(tmp_path, fmt, adapter, extra, paths):
    """Each format parses back to the same clip names (EDL: reel comments), frame durations and paths."""
    home = tmp_path / "home"
    data = export.render(export.build("Sky E01 - Start", clips(home), FPS, home, paths), fmt)
    back = otio.adapters.read_from_string(data.decode(), adapter_name=adapter, **extra)
    found = list(back.find_clips())
    assert [c.name for c in found] == ["01 Opening", "02 Rooftop", "03 Night"]
    assert [c.duration().rescaled_to(FPS).value for c in found] == [48, 36, 78]
    urls = [c.media_reference.target_url for c in found]
    if paths == "relative":
        assert urls == ["output/p/scenes/scene1/scene.mp4", "output/p/scenes/scene2/scene.mp4",
                        "output/p/scenes/scene 3/scene.mp4"]
    else:
        assert urls == [c.path.resolve().as_uri() for c in clips(home)]
