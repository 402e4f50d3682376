"""`anime-studio demo` end to end as a newcomer runs it, offline on the CPU: a sample project made,
its scenes generated as animatics with spoken dialogue, an episode assembled and published to
`<home>/library` when JELLYFIN_LIBRARY_DIR is unset; a second run makes a new project (demo-2)
and leaves the first alone; `doctor` finds the home consistent afterwards and exits 1 once a file
is gone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.live import REPO

OFFLINE = ("DATABASE_URL", "JELLYFIN_LIBRARY_DIR", "JELLYFIN_URL", "JELLYFIN_API_KEY", "TTS_URL", "ACESTEP_URL",
           "OLLAMA_HOST", "COMFYUI_URLS")


def cli(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE}
    env["ANIME_STUDIO_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "src.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def probe_duration(path: Path) -> float:
    import imageio_ffmpeg

    report = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", report).groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_demo_publishes_a_whole_episode_offline_and_doctor_agrees(tmp_path):
    """The demo prints each of its steps, exits 0, and the library holds the episode video (as long
    as its two scenes), its .nfo (parsed back), the show's tvshow.nfo, poster and thumbnail; the
    scenes are animatics with a dialogue track. A re-run publishes a second show from project
    demo-2. `doctor --json` then reports nothing wrong; with a published scene video deleted it
    reports it missing and exits 1."""
    home = tmp_path / "home"
    home.mkdir()
    run = cli(home, "demo")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert f"JELLYFIN_LIBRARY_DIR is unset: publishing to {home / 'library'}" in out
    assert all(f"[{n}/9]" in out for n in range(1, 10)), out
    assert "'Lantern Street' (slug demo," in out

    library = home / "library"
    [show] = [p for p in library.iterdir() if p.is_dir()]
    assert re.fullmatch(r"Lantern Street \(\d{4}\)", show.name)
    season = show / "Season 01"
    video = season / "Lantern Street S01E01 - The lanterns come on.mp4"
    assert video.is_file() and (show / "tvshow.nfo").is_file() and (show / "poster.jpg").is_file()
    assert (season / "Lantern Street S01E01 - The lanterns come on-thumb.jpg").is_file()
    nfo = ET.parse(season / "Lantern Street S01E01 - The lanterns come on.nfo").getroot()
    assert nfo.tag == "episodedetails" and nfo.findtext("title") == "The lanterns come on"
    assert nfo.findtext("episode") == "1" and nfo.findtext("season") == "1"
    scene_lengths = [float(s) for s in re.findall(r"scene\.mp4 \((\d+\.\d) s\)", out)]
    assert len(scene_lengths) == 2
    assert abs(probe_duration(video) - sum(scene_lengths)) < 0.5
    assert len(list((home / "output" / "demo" / "videos").glob("gen*_animatic.mp4"))) == 5  # one per shot
    assert len(list((home / "output" / "audio" / "speech").glob("*.wav"))) == 5  # one line per shot

    doctor = cli(home, "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and report["ok"], doctor.stdout + doctor.stderr
    assert report["rows_checked"] > 10 and report["files_checked"] > 10

    again = cli(home, "demo")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "(slug demo-2," in again.stdout
    assert sorted(p.name for p in library.iterdir())[1].startswith("Lantern Street 2 (") and video.is_file()

    scene_video = next((home / "output" / "demo" / "scenes").glob("scene*/scene.mp4"))
    scene_video.unlink()
    broken = cli(home, "doctor", "--json")
    report = json.loads(broken.stdout)
    assert broken.returncode == 1 and not report["ok"]
    assert [(p["kind"], p["category"], p["path"]) for p in report["problems"]] == [
        ("missing", "scenes", str(scene_video.relative_to(home)))]
