"""Node specs (/object_info) and prompt validation of the ComfyUI double, as the real server
(v0.33, execution.validate_prompt) answers: error types, messages, details and extra_info copied
from the recorded answers in tests/reference/comfyui-api-recorded.json.

The classes the double knows are /object_info entries: the core classes as recorded from the real
server (tests/reference/comfyui-object-info-core.json), then the node packs in comfyui_nodes.json
(kijai/ComfyUI-FramePackWrapper, cubiq/ComfyUI_IPAdapter_plus, Kosinkadink/ComfyUI-VideoHelperSuite)
with their real class and input names, read from their public sources. Model lists are empty there
and are filled from the double's current model folders when served.
"""

from __future__ import annotations

import copy
import json
import mimetypes
import os
from pathlib import Path

CORE_SPECS = Path(__file__).parents[1] / "reference" / "comfyui-object-info-core.json"  # recorded
SPECS: dict[str, dict] = {**json.loads(CORE_SPECS.read_text()),
                          **json.loads(Path(__file__).with_name("comfyui_nodes.json").read_text())}

MODEL_INPUTS = {  # (class, input) -> the model folder whose files are its choices
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("VAELoader", "vae_name"): "vae",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("LoadFramePackModel", "model"): "diffusion_models",
    ("FramePackLoraSelect", "lora"): "loras",
    ("IPAdapterModelLoader", "ipadapter_file"): "ipadapter",
}
EXTRA_CHOICES = {("VAELoader", "vae_name"): ["pixel_space"]}
MULTI_TYPES = {  # VideoHelperSuite's MultiInput: the declared type plus the ones it also takes
    ("VHS_VideoCombine", "images"): {"IMAGE", "LATENT"},
    ("VHS_VideoCombine", "frame_rate"): {"FLOAT", "INT"},
}
PACK_FOLDERS = {"IPAdapterUnifiedLoader": "ipadapter", "VHS_VideoCombine": "VHS_video_formats"}


def input_files(input_dir: Path) -> list[str]:
    """LoadImage's choices: the pictures at the top of input/ (the real filter is by mimetype)."""
    if not input_dir.is_dir():
        return []
    return sorted(f.name for f in input_dir.iterdir()
                  if f.is_file() and (mimetypes.guess_type(f.name)[0] or "").startswith("image/"))


def node_info(double, class_type: str) -> dict:
    info = copy.deepcopy(SPECS[class_type])
    for group in ("required", "optional"):
        for name, spec in info["input"].get(group, {}).items():
            folder = MODEL_INPUTS.get((class_type, name))
            if folder is not None:
                spec[0] = list(double.models.get(folder, [])) + EXTRA_CHOICES.get((class_type, name), [])
            elif (class_type, name) == ("LoadImage", "image"):
                spec[0] = input_files(double.root / "input")
    return info


def object_info(double) -> dict:
    return {c: node_info(double, c) for c in SPECS if c in double.node_classes}


def annotated(name: str, default: str) -> tuple[str, str]:
    """folder_paths.annotated_filepath: 'x.png [output]' names a file in another folder."""
    for kind in ("output", "input", "temp"):
        if name.endswith(f" [{kind}]"):
            return name[: -len(kind) - 3], kind
    return name, default


def _err(etype: str, message: str, details: str, **extra) -> dict:
    return {"type": etype, "message": message, "details": details, "extra_info": extra}


def _types_match(received, wanted, also: set | None) -> bool:
    if also and received in also:
        return True
    if isinstance(wanted, list):
        return received in ("COMBO", "*") or isinstance(received, list)
    if received == wanted or "*" in (received, wanted):
        return True
    return bool(set(str(received).split(",")) & set(str(wanted).split(",")))


class Validator:
    def __init__(self, double, prompt: dict):
        self.double, self.prompt = double, prompt
        self.infos: dict[str, dict] = {}
        self.validated: dict[str, tuple[bool, list, str]] = {}

    def info(self, class_type: str) -> dict:
        if class_type not in self.infos:
            self.infos[class_type] = node_info(self.double, class_type)
        return self.infos[class_type]

    def run(self, targets: list | None = None) -> tuple[bool, dict | None, list[str], dict]:
        """(valid, error, outputs to execute, node_errors) like execution.validate_prompt."""
        for nid, node in self.prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return False, _err("missing_node_type", f"Node 'ID #{nid}' has no class_type. The workflow may be "
                                   "corrupted or a custom node is missing.", f"Node ID '#{nid}'", node_id=nid,
                                   class_type=None, node_title=None), [], {}
            ct = node["class_type"]
            if ct not in SPECS or ct not in self.double.node_classes:
                title = (node.get("_meta") or {}).get("title", ct)
                return False, _err("missing_node_type", f"Node '{title}' not found. The custom node may not be "
                                   "installed.", f"Node ID '#{nid}'", node_id=nid, class_type=ct,
                                   node_title=title), [], {}
        outputs = [n for n, v in self.prompt.items() if SPECS[v["class_type"]]["output_node"]
                   and (targets is None or n in targets)]
        if not outputs:
            return False, _err("prompt_no_outputs", "Prompt has no outputs", ""), [], {}
        good, errors, node_errors = [], [], {}
        for o in outputs:
            try:
                valid, reasons, _ = self.node(o)
            except Exception as ex:  # a link to a node that is not in the prompt: the real KeyError
                valid, reasons = False, [_err("exception_during_validation", "Exception when validating node",
                                              str(ex), exception_type=_type_name(ex), traceback=[
                    '  File "/opt/ComfyUI/execution.py", line 1184, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
                    "  File \"/opt/ComfyUI/execution.py\", line 933, in validate_inputs\n    o_class_type = prompt[o_id]['class_type']\n                   ~~~~~~^^^^^^\n"])]
                self.validated[o] = (False, reasons, o)
            if valid:
                good.append(o)
                continue
            errors.append((o, reasons))
            for nid, (ok, why, _) in self.validated.items():
                if not ok and why:
                    entry = node_errors.setdefault(nid, {"errors": why, "dependent_outputs": [],
                                                         "class_type": self.prompt[nid]["class_type"]})
                    entry["dependent_outputs"].append(o)
        if not good:
            details = "\n".join(f"{e['message']}: {e['details']}" for _, reasons in errors for e in reasons)
            return False, _err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), \
                [], node_errors
        return True, None, good, node_errors

    def node(self, nid: str) -> tuple[bool, list, str]:
        if nid in self.validated:
            return self.validated[nid]
        self.validated[nid] = (True, [], nid)  # provisional: a cycle is found at execution, not here
        node = self.prompt[nid]
        ct, inputs = node["class_type"], node.setdefault("inputs", {})
        spec = self.info(ct)["input"]
        errors, valid = [], True
        names = [(n, "required") for n in spec.get("required", {})] + [(n, "optional") for n in spec.get("optional", {})]
        for name, group in names:
            entry = spec[group][name]
            wanted, extra = entry[0], (entry[1] if len(entry) > 1 else {})
            config = [wanted, extra]
            if name not in inputs:
                if group == "required":
                    errors.append(_err("required_input_missing", "Required input is missing", name, input_name=name))
                continue
            val = inputs[name]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(_err("bad_linked_input", "Bad linked input, must be a length-2 list of "
                                       "[node_id, slot_index]", name, input_name=name, input_config=config,
                                       received_value=val))
                    continue
                o_id, slot = val
                received = SPECS[self.prompt[o_id]["class_type"]]["output"][slot]
                if not _types_match(received, wanted, MULTI_TYPES.get((ct, name))):
                    errors.append(_err("return_type_mismatch", "Return type mismatch between linked nodes",
                                       f"{name}, received_type({received}) mismatch input_type({wanted})",
                                       input_name=name, input_config=config, received_type=received,
                                       linked_node=val))
                    continue
                if not self.node(o_id)[0]:
                    valid = False
                continue
            error = self.constant(ct, name, val, wanted, extra, config, inputs)
            if error:
                errors.append(error)
        result = (not errors and valid, errors, nid)
        self.validated[nid] = result
        return result

    def constant(self, ct, name, val, wanted, extra, config, inputs) -> dict | None:
        convert = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(wanted) if isinstance(wanted, str) else None
        if convert is not None and (ct, name) not in MULTI_TYPES:
            try:
                val = convert(val)
                inputs[name] = val
            except Exception as ex:
                return _err("invalid_input_type", f"Failed to convert an input value to a {wanted} value",
                            f"{name}, {val}, {ex}", input_name=name, input_config=config, received_value=val,
                            exception_message=str(ex))
            if wanted in ("INT", "FLOAT"):
                if "min" in extra and val < extra["min"]:
                    return _err("value_smaller_than_min", f"Value {val} smaller than min of {extra['min']}", name,
                                input_name=name, input_config=config, received_value=val)
                if "max" in extra and val > extra["max"]:
                    return _err("value_bigger_than_max", f"Value {val} bigger than max of {extra['max']}", name,
                                input_name=name, input_config=config, received_value=val)
        if (ct, name) == ("LoadImage", "image"):  # LoadImage.VALIDATE_INPUTS replaces the list check
            file, kind = annotated(str(val), "input")
            if not (self.double.root / kind / file).is_file() or ".." in file:
                return _err("custom_validation_failed", "Custom validation failed for node",
                            f"{name} - Invalid image file: {val}", input_name=name)
            return None
        if isinstance(wanted, list) or wanted in ("COMBO", "COMFY_DYNAMICCOMBO_V3"):
            if wanted == "COMFY_DYNAMICCOMBO_V3":
                options = [o["key"] for o in extra.get("options", [])]
            else:
                options = extra.get("options", []) if wanted == "COMBO" else wanted
            if val not in options:
                listing = f"(list of length {len(options)})" if len(options) > 20 else str(options)
                return _err("value_not_in_list", "Value not in list", f"{name}: '{val}' not in {listing}",
                            input_name=name, input_config=None if len(options) > 20 else config, received_value=val)
        return None


def _type_name(ex: BaseException) -> str:
    cls = type(ex)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def validate(double, prompt: dict, targets: list | None = None):
    return Validator(double, prompt).run(targets)


def safe_join(base: Path, *parts: str) -> Path | None:
    """base/parts if it stays inside base (os.path.commonpath, as the real server checks)."""
    path = os.path.abspath(os.path.join(base, *parts))
    return Path(path) if os.path.commonpath((str(base.resolve()), path)) == str(base.resolve()) else None

