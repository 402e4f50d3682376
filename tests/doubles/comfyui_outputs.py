"""The output nodes of the ComfyUI double: they write real files under the real names
(`{prefix}_{counter:05}_.png|.webp|.mp4|.webm` for the core nodes, `{prefix}_{counter:05}.mp4` plus a
first-frame PNG for VideoHelperSuite) and report them as the real server does: core image and video
saves under `images` (videos and animations with `animated`), VHS_VideoCombine under `gifs`.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from pathlib import Path

from . import comfyui_media as media
from .comfyui_media import Pictures
from .comfyui_nodes import Latent, NodeError, Video, node

SLOW_OUTPUTS = {"SaveVideo", "SaveWEBM", "SaveAnimatedWEBP", "VHS_VideoCombine"}  # they take the latency


def save_path(output_dir: Path, prefix: str, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """folder_paths.get_save_image_path: subfolder from the prefix, counter one past the highest
    existing `{name}_NNNNN_` file in that folder."""
    if "%" in prefix:
        now = time.localtime()
        for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year),
                           ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}")):
            prefix = prefix.replace(key, str(value))
    subfolder = os.path.dirname(os.path.normpath(prefix))
    filename = os.path.basename(os.path.normpath(prefix))
    folder = (output_dir / subfolder).resolve()
    if os.path.commonpath((output_dir.resolve(), folder)) != str(output_dir.resolve()):
        raise NodeError("Exception", "**** ERROR: Saving image outside the output folder is not allowed."
                        f"\n full_output_folder: {folder}\n         output_dir: {output_dir}")
    folder.mkdir(parents=True, exist_ok=True)
    counter = 0
    for existing in os.listdir(folder):
        head, tail = existing[:len(filename) + 1], existing[len(filename) + 1:]
        if os.path.normcase(head[:-1]) == os.path.normcase(filename) and head[-1:] == "_":
            try:
                counter = max(counter, int(tail.split("_")[0]))
            except ValueError:
                pass
    return folder, filename, counter + 1, subfolder


@node("SaveImage", "PreviewImage")
async def _save_image(ctx, i):
    images = i["images"]
    if ctx.class_type == "PreviewImage":
        kind, level = "temp", 1
        prefix = "ComfyUI_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
    else:
        kind, level, prefix = "output", 4, i["filename_prefix"]
    folder, name, counter, sub = save_path(ctx.dirs[kind], prefix, images.width, images.height)
    info = media.png_info(ctx.prompt, ctx.extra_data.get("extra_pnginfo"))
    results = []
    for b in range(images.count):
        file = f"{name.replace('%batch_num%', str(b))}_{counter:05}_.png"
        await asyncio.to_thread(media.save_png, images.frame(b), folder / file, info, level)
        results.append({"filename": file, "subfolder": sub, "type": kind})
        counter += 1
    return (images,), {"images": results}


@node("SaveAnimatedWEBP")
async def _save_webp(ctx, i):
    images = i["images"]
    folder, name, counter, sub = save_path(ctx.dirs["output"], i["filename_prefix"], images.width, images.height)
    file = f"{name}_{counter:05}_.webp"
    method = {"default": 4, "fastest": 0, "slowest": 6}.get(i["method"], 4)
    await ctx.busy()
    await asyncio.to_thread(media.save_animated, images, folder / file, float(i["fps"]), "WEBP",
                            lossless=bool(i["lossless"]), quality=int(i["quality"]), method=method)
    return (images,), {"images": [{"filename": file, "subfolder": sub, "type": "output"}],
                       "animated": [images.count != 1]}


@node("CreateVideo")
async def _create_video(ctx, i):
    return (Video(i["images"], float(i["fps"])),), None


@node("SaveVideo", "SaveWEBM")
async def _save_video(ctx, i):
    if ctx.class_type == "SaveVideo":
        video = i["video"]
        ext = {"auto": "mp4"}.get(i["format"], i["format"])
        codec = "vp9" if ext == "webm" else ("av1" if i.get("format.codec") == "av1" else "h264")
    else:
        video, ext = Video(i["images"], float(i["fps"])), "webm"
        codec = "vp9" if i["codec"] == "vp9" else "av1"
    pics = video.pictures
    folder, name, counter, sub = save_path(ctx.dirs["output"], i["filename_prefix"], pics.width, pics.height)
    file = f"{name}_{counter:05}_.{ext}"
    await ctx.busy()
    await asyncio.to_thread(media.save_ffmpeg, pics, folder / file, video.fps, codec)
    ui = {"images": [{"filename": file, "subfolder": sub, "type": "output"}], "animated": [True]}
    return ((video,) if ctx.class_type == "SaveVideo" else (pics,)), ui


_VHS_FORMATS = {  # VideoHelperSuite format -> (extension, codec)
    "h264-mp4": ("mp4", "h264"), "nvenc_h264-mp4": ("mp4", "h264"), "h265-mp4": ("mp4", "h265"),
    "nvenc_hevc-mp4": ("mp4", "h265"), "nvenc_av1-mp4": ("mp4", "av1"), "webm": ("webm", "vp9"),
    "av1-webm": ("webm", "av1"), "ProRes": ("mov", "prores"), "ffv1-mkv": ("mkv", "ffv1"),
    "ffmpeg-gif": ("gif", "gif"), "8bit-png": ("%03d.png", "png"), "16bit-png": ("%03d.png", "png"),
}


@node("VHS_VideoCombine")
async def _vhs_combine(ctx, i):
    images = i["images"]
    if isinstance(images, Latent):
        images = images.decode()
    fps, fmt, save_output = float(i["frame_rate"]), i["format"], bool(i.get("save_output", True))
    if i.get("pingpong") and images.count > 2:
        base, n = images, images.count
        images = Pictures(base.width, base.height, 2 * n - 2, lambda k: base.frame(k if k < n else 2 * n - 2 - k))
    kind = "output" if save_output else "temp"
    folder, name, _, sub = save_path(ctx.dirs[kind], i["filename_prefix"])
    pattern = re.compile(f"{re.escape(name)}_(\\d+)\\D*\\..+", re.IGNORECASE)
    counter = 1 + max([int(m.group(1)) for f in os.listdir(folder) if (m := pattern.fullmatch(f))], default=0)
    first = f"{name}_{counter:05}.png"
    info = media.png_info(ctx.prompt, ctx.extra_data.get("extra_pnginfo"))
    await asyncio.to_thread(media.save_png, images.frame(0), folder / first, info)
    await ctx.busy()
    ftype, fext = fmt.split("/")
    if ftype == "image":
        file = f"{name}_{counter:05}.{fext}"
        extra = {"lossless": bool(i.get("lossless", True))} if fext == "webp" else {"disposal": 2}
        await asyncio.to_thread(media.save_animated, images, folder / file, fps, fext.upper(),
                                int(i.get("loop_count", 0)), **extra)
    else:
        ext, codec = _VHS_FORMATS.get(fext, ("mp4", "h264"))
        file = f"{name}_{counter:05}.{ext}"
        await asyncio.to_thread(media.save_ffmpeg, images, folder / file, fps, codec)
    preview = {"filename": file, "subfolder": sub, "type": kind, "format": fmt, "frame_rate": i["frame_rate"],
               "workflow": first, "fullpath": str(folder / file)}
    if images.count == 1 and "png" in fmt and "%03d" in file:
        preview["format"], preview["filename"] = "image/png", file.replace("%03d", "001")
    return ((save_output, [str(folder / first), str(folder / file)]),), {"gifs": [preview]}
