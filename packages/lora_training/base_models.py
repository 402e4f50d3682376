"""Which base models a run can train on, found on disk without loading them (no torch here):
diffusers folders (a `model_index.json`) and single-file `.safetensors` checkpoints under
ANIME_STUDIO_HOME/models/ and COMFYUI_MODELS_DIR/checkpoints/. A run names one by the `name`
listed here and is resolved by scanning again, so a request never becomes a path."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from packages.core.errors import Invalid
from packages.core.settings import Settings

MAX_DEPTH = 3
MAX_HEADER = 64 * 1024 * 1024  # a safetensors header is JSON; real checkpoints' are a few MB at most


@dataclass(frozen=True)
class BaseModel:
    name: str  # "models/<relative path>" (the home's models folder) or "checkpoints/<relative path>" (ComfyUI's)
    path: Path  # absolute, resolved
    shown: str  # relative to the home where possible
    kind: str  # diffusers | single_file
    architecture: str  # sd15 | sdxl


def roots(settings: Settings) -> list[tuple[str, Path]]:
    found = [("models", settings.home / "models")]
    if settings.comfyui_models_dir:
        found.append(("checkpoints", Path(settings.comfyui_models_dir).expanduser() / "checkpoints"))
    return found


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, read from its JSON header (the tensors are not read)."""
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            return []
        (size,) = struct.unpack("<Q", raw)
        if size > MAX_HEADER:
            return []
        header = json.loads(f.read(size) or b"{}")
    return [k for k in header if k != "__metadata__"]


def single_file_architecture(path: Path) -> str | None:
    """sdxl or sd15 from the checkpoint's key names (the original LDM layout); None for anything else."""
    try:
        keys = safetensors_keys(path)
    except (OSError, ValueError):
        return None
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    if any(k.startswith("cond_stage_model.transformer.") for k in keys) and \
            any(k.startswith("model.diffusion_model.") for k in keys):
        return "sd15"
    return None


def diffusers_architecture(folder: Path) -> str | None:
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return None
    if "unet" not in index or "text_encoder" not in index:
        return None
    return "sdxl" if "text_encoder_2" in index else "sd15"


def _shown(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.home))
    except ValueError:
        return str(path)


def _walk(folder: Path, depth: int = 0):
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if (entry / "model_index.json").is_file():
                yield entry, "diffusers"
            elif depth < MAX_DEPTH:
                yield from _walk(entry, depth + 1)
        elif entry.suffix == ".safetensors" and entry.is_file():
            yield entry, "single_file"


def scan(settings: Settings) -> list[BaseModel]:
    """Every trainable base model (SD1.5 or SDXL) in the models folders, never outside them."""
    found = []
    for prefix, root in roots(settings):
        if not root.is_dir():
            continue
        root = root.resolve()
        for path, kind in _walk(root):
            resolved = path.resolve()
            if root not in resolved.parents:  # a link leading out of the folder
                continue
            arch = diffusers_architecture(resolved) if kind == "diffusers" else single_file_architecture(resolved)
            if arch:
                name = f"{prefix}/{path.relative_to(root).as_posix()}"
                found.append(BaseModel(name, resolved, _shown(settings, resolved), kind, arch))
    return found


def resolve(settings: Settings, name: str) -> BaseModel:
    for model in scan(settings):
        if model.name == name:
            return model
    raise Invalid(f"No base model named '{name}'; GET /training/base-models lists them", code="unknown_base_model",
                  field="base_model")
