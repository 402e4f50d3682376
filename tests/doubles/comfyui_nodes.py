"""What the ComfyUI double's node classes do when they "execute".

Nothing here runs a model: loaders hand back named stand-ins, samplers spend the double's latency
reporting progress step by step, VAE decoders turn latents into pictures of the size real latent
math gives (x8 for SD/SDXL and HunyuanVideo, x32 and 8-frame groups for LTX-Video); the save nodes
(comfyui_outputs.py) write real files. A behaviour is `async (ctx, inputs) -> (outputs, ui)`.
Classes without a behaviour return stand-ins for their declared outputs.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from . import comfyui_media as media
from .comfyui_media import Pictures

_EXEC_TB = [  # the frames every node error starts with on the real server (recorded)
    '  File "/opt/ComfyUI/execution.py", line 545, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n',
    '  File "/opt/ComfyUI/execution.py", line 344, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n',
    '  File "/opt/ComfyUI/execution.py", line 318, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n',
    '  File "/opt/ComfyUI/execution.py", line 306, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n',
]
_SAMPLER_TB = [
    '  File "/opt/ComfyUI/nodes.py", line 1525, in sample\n    return common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=denoise)\n',
    '  File "/opt/ComfyUI/comfy/samplers.py", line 1078, in sample\n    return sample(self.model, noise, positive, negative, cfg, self.device, sampler, sigmas, self.model_options, latent_image=latent_image, denoise_mask=denoise_mask, callback=callback, disable_pbar=disable_pbar, seed=seed)\n',
    '  File "/opt/ComfyUI/comfy/ldm/modules/attention.py", line 489, in attention_pytorch\n    out = comfy.ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)\n',
]
OOM_TIPS = ("This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might "
            "have accidentally set the batch_size to a large number.")


class NodeError(Exception):
    """An exception inside a node, reported as the real server reports it (execution_error)."""

    def __init__(self, exception_type: str, message: str, traceback: list[str] | None = None):
        super().__init__(message)
        self.exception_type, self.message = exception_type, message
        self.traceback = _EXEC_TB + (traceback or [])


def oom_error() -> NodeError:
    return NodeError("torch.OutOfMemoryError", f"Allocation on device \n{OOM_TIPS}", _SAMPLER_TB)


def generic_error() -> NodeError:
    return NodeError("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)\n", _SAMPLER_TB)


_REPR = {"MODEL": "comfy.model_patcher.ModelPatcher", "CLIP": "comfy.sd.CLIP", "VAE": "comfy.sd.VAE",
         "CLIP_VISION": "comfy.clip_vision.ClipVisionModel", "FramePackMODEL": None}


@dataclass
class Thing:
    """A stand-in for a model, conditioning or other value no test looks inside."""

    kind: str
    info: dict = field(default_factory=dict)

    def __str__(self) -> str:
        if self.kind == "CONDITIONING":
            return "[[tensor([[[-0.3884,  0.0229, -0.0523,  ...]]]), {'pooled_output': tensor([[-0.6265, ...]])}]]"
        cls = _REPR.get(self.kind)
        return f"<{cls} object at 0x{id(self):012x}>" if cls else repr(self.info)

    def but(self, **info) -> "Thing":
        return Thing(self.kind, {**self.info, **info})


@dataclass
class Latent:
    """A latent, kept as the picture it will decode to: pixel size, frames per item, batch."""

    width: int
    height: int
    frames: int = 1
    batch: int = 1
    seed: int = 0
    text: str = ""
    source: Pictures | None = None  # an input picture that shows through (img2img, image-to-video)
    keep: float = 0.0
    fade: bool = False  # the source fades out over the frames (image-to-video)
    inset: Image.Image | None = None
    sampled: bool = False

    def __str__(self) -> str:
        return (f"{{'samples': tensor([[[[ 0.1436, -0.0923, ...]]]]) # {self.batch}x{self.frames} frames of "
                f"{self.width}x{self.height}}}")

    def decode(self) -> Pictures:
        def make(k: int) -> Image.Image:
            b, f = divmod(k, self.frames)
            src = self.source.frame(b if self.source.count > b else 0) if self.source is not None else None
            keep = self.keep * (1 - f / self.frames) if self.fade else self.keep
            if not self.sampled and src is None:
                return Image.new("RGB", (self.width, self.height), (127, 127, 127))
            return media.render(self.width, self.height, self.seed + b, self.text, f, self.frames, src, keep,
                                self.inset)

        return Pictures(self.width, self.height, self.batch * self.frames, make)


@dataclass
class Video:
    pictures: Pictures
    fps: float

    def __str__(self) -> str:
        return f"<comfy_api.latest._input_impl.video_types.VideoFromComponents object at 0x{id(self):012x}>"


NODES: dict = {}


def node(*names: str):
    def register(fn):
        for name in names:
            NODES[name] = fn
        return fn

    return register


def _dims(width: int, height: int, src: Pictures) -> tuple[int, int]:
    if width == 0 and height == 0:
        return src.width, src.height
    if width == 0:
        width = max(1, round(src.width * height / src.height))
    if height == 0:
        height = max(1, round(src.height * width / src.width))
    return width, height


# --- loaders -------------------------------------------------------------------------------------

@node("CheckpointLoaderSimple")
async def _checkpoint(ctx, i):
    name = i["ckpt_name"]
    return (Thing("MODEL", {"name": name}), Thing("CLIP", {"name": name}), Thing("VAE", {"name": name})), None


@node("LoraLoader", "LoraLoaderModelOnly")
async def _lora(ctx, i):
    model = i["model"].but(loras=[*i["model"].info.get("loras", []), i["lora_name"]])
    return ((model, i["clip"].but(loras=[i["lora_name"]])) if "clip" in i else (model,)), None


@node("CLIPTextEncode")
async def _encode(ctx, i):
    return (Thing("CONDITIONING", {"text": i["text"], **{k: v for k, v in i["clip"].info.items() if k != "name"}}),), None


@node("ConditioningZeroOut")
async def _zero(ctx, i):
    return (Thing("CONDITIONING", {"text": ""}),), None


@node("LoadImage")
async def _load_image(ctx, i):
    path = ctx.annotated_path(i["image"], "input")
    try:
        img = await asyncio.to_thread(_open_image, path)
    except UnidentifiedImageError:
        raise NodeError("PIL.UnidentifiedImageError", f"cannot identify image file '{path}'\n", [
            '  File "/opt/ComfyUI/nodes.py", line 1765, in load_image\n    img = node_helpers.pillow(Image.open, image_path)\n'])
    return (Pictures.of(img), Thing("MASK")), None


def _open_image(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


@node("EmptyImage")
async def _empty_image(ctx, i):
    c = int(i["color"])
    img = Image.new("RGB", (int(i["width"]), int(i["height"])), ((c >> 16) & 255, (c >> 8) & 255, c & 255))
    return (Pictures(img.width, img.height, int(i["batch_size"]), lambda k: img),), None


@node("ImageScale")
async def _scale(ctx, i):
    src = i["image"]
    w, h = _dims(int(i["width"]), int(i["height"]), src)
    if i.get("crop") == "center":
        return (Pictures(w, h, src.count, lambda k: ImageOps.fit(src.frame(k), (w, h))),), None
    return (Pictures(w, h, src.count, lambda k: src.frame(k).resize((w, h))),), None


@node("ImageBatch")
async def _batch(ctx, i):
    a, b = i["image1"], i["image2"]
    return (Pictures(a.width, a.height, a.count + b.count,
                     lambda k: a.frame(k) if k < a.count else b.frame(k - a.count).resize((a.width, a.height))),), None


@node("CLIPVisionEncode")
async def _vision(ctx, i):
    return (Thing("CLIP_VISION_OUTPUT", {"image": i["image"]}),), None


# --- latents and samplers ------------------------------------------------------------------------

@node("EmptyLatentImage")
async def _empty_latent(ctx, i):
    return (Latent(int(i["width"]) // 8 * 8, int(i["height"]) // 8 * 8, 1, int(i["batch_size"])),), None


@node("EmptyLTXVLatentVideo")
async def _empty_ltx(ctx, i):
    frames = (int(i["length"]) - 1) // 8 * 8 + 1
    return (Latent(int(i["width"]) // 32 * 32, int(i["height"]) // 32 * 32, frames, int(i["batch_size"])),), None


@node("LTXVImgToVideo")
async def _ltx_i2v(ctx, i):
    frames = (int(i["length"]) - 1) // 8 * 8 + 1
    latent = Latent(int(i["width"]) // 32 * 32, int(i["height"]) // 32 * 32, frames, int(i["batch_size"]),
                    source=i["image"], keep=0.9 * float(i["strength"]), fade=True)
    return (i["positive"], i["negative"], latent), None


@node("LTXVConditioning")
async def _ltx_cond(ctx, i):
    return (i["positive"], i["negative"]), None


@node("LTXVScheduler")
async def _ltx_sched(ctx, i):
    return (Thing("SIGMAS", {"steps": int(i["steps"])}),), None


@node("VAEEncode")
async def _vae_encode(ctx, i):
    pix = i["pixels"]
    return (Latent(pix.width // 8 * 8, pix.height // 8 * 8, 1, pix.count, source=pix, keep=1.0),), None


@node("VAEDecode", "VAEDecodeTiled")
async def _vae_decode(ctx, i):
    return (i["samples"].decode(),), None


def _sampled(latent: Latent, model: Thing, seed: int, positive: Thing, keep: float) -> Latent:
    ref = model.info.get("ipadapter")
    return replace(latent, seed=seed, text=positive.info.get("text", ""), keep=keep, sampled=True,
                   inset=ref.frame(0) if ref is not None else latent.inset)


@node("KSampler")
async def _ksampler(ctx, i):
    latent, steps = i["latent_image"], int(i["steps"])
    await ctx.sample(latent, steps)
    return (_sampled(latent, i["model"], int(i["seed"]), i["positive"], latent.keep * (1 - float(i["denoise"]))),), None


@node("KSamplerAdvanced")
async def _ksampler_adv(ctx, i):
    latent = i["latent_image"]
    steps = max(1, min(int(i["end_at_step"]), int(i["steps"])) - int(i["start_at_step"]))
    await ctx.sample(latent, steps)
    return (_sampled(latent, i["model"], int(i["noise_seed"]), i["positive"], latent.keep * 0.3),), None


@node("SamplerCustom")
async def _sampler_custom(ctx, i):
    latent = i["latent_image"]
    await ctx.sample(latent, max(1, i["sigmas"].info.get("steps", 20)))
    out = _sampled(latent, i["model"], int(i["noise_seed"]), i["positive"], latent.keep)
    return (out, out), None


@node("FramePackSampler")
async def _framepack(ctx, i):
    """kijai's sampler: round(seconds*30 / (window*4)) sections of `window` latent frames each plus
    the start latent, decoded x4 in time by the HunyuanVideo VAE: sections*window*4 + 1 frames."""
    start, steps, window = i["start_latent"], int(i["steps"]), int(i["latent_window_size"])
    sections = int(max(round(float(i["total_second_length"]) * 30 / (window * 4)), 1))
    await ctx.sample(start, steps, sections)
    latent = replace(start, frames=sections * window * 4 + 1, batch=1, keep=0.9 if start.source else 0.0, fade=True)
    return (_sampled(latent, i["model"], int(i["seed"]), i["positive"], latent.keep),), None


@node("FramePackFindNearestBucket")
async def _bucket(ctx, i):
    h, w = i["image"].height, i["image"].width
    best, metric = (640, 640), float("inf")
    for bh, bw in ((416, 960), (448, 864), (480, 832), (512, 768), (544, 704), (576, 672), (608, 640), (640, 608),
                   (672, 576), (704, 544), (768, 512), (832, 480), (864, 448), (960, 416)):
        if abs(h * bw - w * bh) <= metric:
            best, metric = (bh, bw), abs(h * bw - w * bh)
    res = int(i["base_resolution"])
    if res != 640:
        best = (round(best[0] * res / 640 / 16) * 16, round(best[1] * res / 640 / 16) * 16)
    return (best[1], best[0]), None


# --- IP-Adapter (cubiq) --------------------------------------------------------------------------

_IPA_FILES = {  # preset -> patterns the pack's unified loader looks for in models/ipadapter (SD1.5, SDXL)
    "light": (r"sd15.light(.v11)?\.(safetensors|bin)$", None),
    "standard": (r"ip.adapter.sd15\.(safetensors|bin)$", r"ip.adapter.sdxl.vit.h\.(safetensors|bin)$"),
    "vit-g": (r"sd15.vit.g\.(safetensors|bin)$", r"ip.adapter.sdxl\.(safetensors|bin)$"),
    "plus (": (r"ip.adapter.plus.sd15\.(safetensors|bin)$", r"plus.sdxl.vit.h\.(safetensors|bin)$"),
    "plus face": (r"plus.face.sd15\.(safetensors|bin)$", r"plus.face.sdxl.vit.h\.(safetensors|bin)$"),
    "full": (r"full.face.sd15\.(safetensors|bin)$", None),
}


@node("IPAdapterUnifiedLoader")
async def _ipa_loader(ctx, i):
    preset = i["preset"].lower()
    vision = (r"(ViT.bigG.14.*39B.b160k|ipadapter.*sdxl|sdxl.*model)\.(bin|safetensors)" if preset.startswith("vit-g")
              else r"(ViT.H.14.*s32B.b79K|ipadapter.*sd15|sd1.?5.*model)\.(bin|safetensors)")
    tb = ['  File "/opt/ComfyUI/custom_nodes/ComfyUI_IPAdapter_plus/IPAdapterPlus.py", line 573, in load_models\n']
    if not [f for f in ctx.models("clip_vision") if re.search(vision, f, re.IGNORECASE)]:
        raise NodeError("Exception", "ClipVision model not found.\n", tb)
    patterns = next(p for k, p in _IPA_FILES.items() if preset.startswith(k))
    if not [f for f in ctx.models("ipadapter") for p in patterns if p and re.search(p, f, re.IGNORECASE)]:
        raise NodeError("Exception", "IPAdapter model not found.\n", tb)
    return (i["model"], Thing("IPADAPTER", {"preset": i["preset"]})), None


@node("IPAdapterAdvanced")
async def _ipa_apply(ctx, i):
    return (i["model"].but(ipadapter=i["image"], ipadapter_weight=float(i["weight"])),), None


# --- pass-throughs and stand-ins -----------------------------------------------------------------

@node("ModelSamplingLTXV")
async def _model_pass(ctx, i):
    return (i["model"],), None


async def generic(ctx, i):
    """Any class without a behaviour: stand-ins for its declared outputs."""
    return tuple(Thing(kind, {"class_type": ctx.class_type, **{k: v for k, v in i.items() if isinstance(v, (str, int, float))}})
                 for kind in ctx.spec["output"]), None
