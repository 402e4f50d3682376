"""Shared set-up of the episode tests: small scene videos made with ffmpeg's lavfi sources
(testsrc / sine, no scene job), scenes whose video is such a file, and waiting for an episode."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from packages.core.media import ffmpeg_binary


def make_video(path: Path, *, size: str = "320x240", fps: int = 24, seconds: float = 1.0, audio_rate: int | None = 48000,
               crf: int = 40, pattern: str = "testsrc") -> Path:
    """An H.264 (+ AAC stereo when `audio_rate`) mp4; crf marks the encoder settings in the stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"{pattern}=size={size}:rate={fps}:duration={seconds}"]
    if audio_rate:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate={audio_rate}", "-ac", "2",
                 "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


async def scene_with_video(client, db, home: Path, project: dict, title: str, **video) -> dict:
    """A scene (through the API) marked done with a lavfi video as its output."""
    r = await client.post("/scenes", json={"project_id": project["id"], "title": title})
    assert r.status_code == 201, r.text
    scene = r.json()
    relative = f"output/{project['slug']}/scenes/scene{scene['id']}/scene.mp4"
    await asyncio.to_thread(make_video, home / relative, **video)
    await db.execute("UPDATE scenes SET status = 'done', output_path = $2, duration_s = $3 WHERE id = $1",
                     scene["id"], relative, float(video.get("seconds", 1.0)))
    return scene


async def wait_episode(client, episode_id: int, timeout: float = 60) -> dict:
    for _ in range(int(timeout / 0.1)):
        episode = (await client.get(f"/episodes/{episode_id}")).json()
        if episode["status"] not in ("assembling", "publishing"):
            return episode
        await asyncio.sleep(0.1)
    raise AssertionError(f"episode {episode_id} did not finish: {episode}")
