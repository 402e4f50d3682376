"""The training loop of the trainer child: peft LoRA on the UNet's attention projections (to_q,
to_k, to_v, to_out.0) and optionally the text encoder(s), noise-prediction loss, AdamW, gradient
clipping, latents (and, when the text encoder is frozen, text embeddings) computed once, mixed
precision only on a GPU, a checkpoint each epoch and a resume from it, samples every N steps, and
the kohya export at the end. Progress goes out through `emit` (JSON lines, see trainer.py)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from packages.lora_training import export, loading

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
CHECKPOINT = "checkpoint.safetensors"
MAX_GRAD_NORM = 1.0


@dataclass
class Plan:
    images: int
    batch_size: int
    epochs: int
    max_steps: int | None
    steps_per_epoch: int = 0
    total_steps: int = 0
    total_epochs: int = 0

    def __post_init__(self):
        self.steps_per_epoch = math.ceil(self.images / self.batch_size)
        full = self.steps_per_epoch * self.epochs
        self.total_steps = min(full, self.max_steps) if self.max_steps else full
        self.total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)


@dataclass
class State:
    step: int = 0
    epoch: int = 0  # epochs finished
    started: float = field(default_factory=time.monotonic)
    first_step: int = 0
    history: list = field(default_factory=list)  # [{step, loss}] since the run began, kept in the checkpoint


def device_and_dtype(precision: str) -> tuple[torch.device, torch.dtype, str]:
    """Mixed precision only on a GPU (CPU autocast in fp16 is slower and unstable): fp32 otherwise."""
    if torch.cuda.is_available():
        device = torch.device("cuda")
        if precision == "bf16" and torch.cuda.is_bf16_supported():
            return device, torch.bfloat16, "bf16"
        if precision == "fp16":
            return device, torch.float16, "fp16"
        return device, torch.float32, "fp32"
    return torch.device("cpu"), torch.float32, "fp32"


def load_image(path: str, resolution: int) -> torch.Tensor:
    """The image as a [-1, 1] tensor: shorter side scaled to `resolution`, centre-cropped square."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = resolution / min(img.size)
        img = img.resize((max(resolution, round(img.width * scale)), max(resolution, round(img.height * scale))),
                         Image.BICUBIC)
        left, top = (img.width - resolution) // 2, (img.height - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
        data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(resolution, resolution, 3)
    return data.permute(2, 0, 1).float() / 127.5 - 1.0


def add_lora(parts: loading.Components, params: dict) -> list[torch.nn.Parameter]:
    """Freezes the base model and adds the LoRA adapters; returns the trainable (LoRA) parameters."""
    from peft import LoraConfig

    for model in (parts.unet, parts.vae, parts.text_encoder, parts.text_encoder_2):
        if model is not None:
            model.requires_grad_(False)
    common = {"r": params["rank"], "lora_alpha": params["alpha"], "init_lora_weights": "gaussian"}
    parts.unet.add_adapter(LoraConfig(target_modules=UNET_TARGETS, **common))
    if params["train_text_encoder"]:
        for encoder in (parts.text_encoder, parts.text_encoder_2):
            if encoder is not None:
                encoder.add_adapter(LoraConfig(target_modules=text_targets(parts, encoder), **common))
    return [p for m in trained_models(parts, params).values() for p in m.parameters() if p.requires_grad]


def text_targets(parts: loading.Components, encoder) -> list[str]:
    """The text encoder's LoRA targets. SDXL conditions on CLIP-L's penultimate layer (its pooled output
    is unused), so CLIP-L's last layer never gets a gradient: no LoRA there (it would export as zeros)."""
    if parts.architecture == "sdxl" and encoder is parts.text_encoder:
        return [f"encoder.layers.{i}.self_attn.{t}" for i in range(encoder.config.num_hidden_layers - 1)
                for t in TEXT_TARGETS]
    return TEXT_TARGETS


def trained_models(parts: loading.Components, params: dict) -> dict[str, torch.nn.Module]:
    models = {"unet": parts.unet}
    if params["train_text_encoder"]:
        if parts.architecture == "sdxl":
            models.update(text_encoder_sdxl=parts.text_encoder, text_encoder_2=parts.text_encoder_2)
        else:
            models["text_encoder"] = parts.text_encoder
    return models


def lora_state(parts: loading.Components, params: dict) -> dict[str, dict]:
    from peft.utils import get_peft_model_state_dict

    return {name: get_peft_model_state_dict(model) for name, model in trained_models(parts, params).items()}


def encode_prompts(parts: loading.Components, captions: list[str], device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text conditioning: SD1.5 the last hidden state; SDXL both encoders' penultimate states
    concatenated, and the pooled projection of the second."""
    def ids(tokenizer):
        return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                         return_tensors="pt").input_ids.to(device)

    if parts.architecture != "sdxl":
        return parts.text_encoder(ids(parts.tokenizer))[0], None
    first = parts.text_encoder(ids(parts.tokenizer), output_hidden_states=True)
    second = parts.text_encoder_2(ids(parts.tokenizer_2), output_hidden_states=True)
    hidden = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
    return hidden, second.text_embeds


class Trainer:
    def __init__(self, spec: dict, emit, stop_requested):
        self.spec, self.emit, self.stop_requested = spec, emit, stop_requested
        self.params = spec["params"]
        self.work = Path(spec["work_dir"])
        self.device, self.dtype, self.precision = device_and_dtype(self.params["precision"])
        self.plan = Plan(len(spec["images"]), self.params["batch_size"], self.params["epochs"], self.params["max_steps"])
        self.state = State()
        self.parent = os.getppid()

    # -- set-up ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        seed = self.params["seed"] if self.params["seed"] is not None else 0
        torch.manual_seed(seed)
        self.parts = loading.load(self.spec["base"], torch.float32, self.work)
        for model in (self.parts.unet, self.parts.vae, self.parts.text_encoder, self.parts.text_encoder_2):
            if model is not None:
                model.to(self.device)
        self.trainable = add_lora(self.parts, self.params)
        self.optimizer = torch.optim.AdamW(self.trainable, lr=self.params["learning_rate"], weight_decay=1e-2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self._cache()

    @torch.no_grad()
    def _cache(self) -> None:
        """Latents once for all images (scaled); text embeddings too when the text encoder is frozen."""
        res, vae = self.params["resolution"], self.parts.vae
        latents = []
        for item in self.spec["images"]:
            pixels = load_image(item["path"], res).unsqueeze(0).to(self.device)
            latents.append(vae.encode(pixels).latent_dist.sample() * vae.config.scaling_factor)
        self.latents = torch.cat(latents)
        self.captions = [item["caption"] for item in self.spec["images"]]
        self.text_cache = None
        if not self.params["train_text_encoder"]:
            self.text_cache = encode_prompts(self.parts, self.captions, self.device)
        self.parts.vae.to("cpu")  # not needed again until a sample is drawn

    # -- checkpoints ----------------------------------------------------------------------------
    def trainable_named(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(f"{part}.{name}", p) for part, model in trained_models(self.parts, self.params).items()
                for name, p in model.named_parameters() if p.requires_grad]

    def save_checkpoint(self) -> None:
        """The LoRA weights, AdamW's state, the RNG and the loss history in one safetensors file,
        replaced atomically (a crash mid-write leaves the previous epoch's)."""
        from safetensors.torch import save_file

        tensors = {"rng": torch.get_rng_state(), "history": torch.tensor(
            [[p["step"], p["loss"]] for p in self.state.history], dtype=torch.float64).reshape(-1, 2)}
        for i, (name, param) in enumerate(self.trainable_named()):
            tensors[f"param.{name}"] = param.detach()
            for key, value in self.optimizer.state.get(param, {}).items():
                tensors[f"opt.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
        temp = self.work / (CHECKPOINT + ".tmp")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(temp),
                  metadata={"step": str(self.state.step), "epoch": str(self.state.epoch)})
        os.replace(temp, self.work / CHECKPOINT)

    def resume(self) -> None:
        from safetensors import safe_open

        path = self.work / CHECKPOINT
        if not path.is_file():
            return
        with safe_open(str(path), framework="pt", device=str(self.device)) as f:
            meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
        with torch.no_grad():
            for i, (name, param) in enumerate(self.trainable_named()):
                param.copy_(tensors[f"param.{name}"])
                prefix = f"opt.{i}."
                state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
                if state:
                    self.optimizer.state[param] = state
        torch.set_rng_state(tensors["rng"].cpu())
        self.state.step, self.state.epoch = int(meta["step"]), int(meta["epoch"])
        self.state.first_step = self.state.step
        self.state.history = [{"step": int(s), "loss": float(v)} for s, v in tensors["history"].tolist()]

    # -- one step -------------------------------------------------------------------------------
    def conditioning(self, index: torch.Tensor):
        if self.text_cache is not None:
            hidden, pooled = self.text_cache
            return hidden[index], (pooled[index] if pooled is not None else None)
        return encode_prompts(self.parts, [self.captions[i] for i in index.tolist()], self.device)

    def loss(self, index: torch.Tensor, noise: torch.Tensor | None = None,
             timesteps: torch.Tensor | None = None) -> torch.Tensor:
        """Noise-prediction loss on the images at `index` (fresh noise and timesteps unless given)."""
        latents = self.latents[index]
        scheduler = self.parts.scheduler
        if noise is None:
            noise = torch.randn_like(latents)
        if timesteps is None:
            timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), device=self.device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        hidden, pooled = self.conditioning(index)
        extra = {}
        if self.parts.architecture == "sdxl":
            res = self.params["resolution"]
            time_ids = torch.tensor([[res, res, 0, 0, res, res]] * latents.shape[0], device=self.device,
                                    dtype=hidden.dtype)
            extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
        if self.precision == "fp32":
            prediction = self.parts.unet(noisy, timesteps, hidden, **extra).sample
        else:
            with torch.autocast(self.device.type, dtype=self.dtype):
                prediction = self.parts.unet(noisy, timesteps, hidden, **extra).sample
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return F.mse_loss(prediction.float(), target.float())

    def step(self, index: torch.Tensor, **fixed) -> tuple[float, float]:
        """One optimiser step; returns (loss, gradient norm before clipping)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(index, **fixed)
        if self.scaler.is_enabled():  # fp16: scaled loss, unscaled before clipping
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.trainable, MAX_GRAD_NORM)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.trainable, MAX_GRAD_NORM)
            self.optimizer.step()
        return float(loss.detach()), float(norm)

    # -- the run --------------------------------------------------------------------------------
    def should_stop(self) -> bool:
        return self.stop_requested() or os.getppid() != self.parent  # cancelled, or the job's worker died

    def run(self) -> str:
        """Trains to the end (or until stopped); returns "done" or "stopped"."""
        plan, state = self.plan, self.state
        self.emit("start", pid=os.getpid(), total_steps=plan.total_steps, total_epochs=plan.total_epochs, images=plan.images,
                  steps_per_epoch=plan.steps_per_epoch, device=self.device.type, precision=self.precision,
                  resumed_from_step=state.step, trainable_params=sum(p.numel() for p in self.trainable))
        if state.history:  # the losses up to the checkpoint: the parent records any it missed
            self.emit("history", points=state.history)
        state.started = time.monotonic()
        last = time.perf_counter()
        while state.step < plan.total_steps:
            order = torch.randperm(plan.images, generator=torch.Generator().manual_seed(
                (self.params["seed"] or 0) + state.epoch))
            batches = order.split(plan.batch_size)
            for index in batches[state.step - state.epoch * plan.steps_per_epoch:]:
                if self.should_stop():
                    return "stopped"
                loss, norm = self.step(index.to(self.device))
                now = time.perf_counter()
                step_s, last = now - last, now  # the whole iteration: the step, the line, a checkpoint
                state.step += 1
                state.history.append({"step": state.step, "loss": loss})
                done = state.step - state.first_step
                rate = done / max(time.monotonic() - state.started, 1e-9)
                self.emit("step", step=state.step, epoch=state.epoch + 1, loss=loss, grad_norm=norm,
                          eta_s=round((plan.total_steps - state.step) / rate, 2), steps_per_s=round(rate, 3),
                          step_s=round(step_s, 5))
                if self.params["sample_every"] and state.step % self.params["sample_every"] == 0:
                    self.sample()
                if state.step >= plan.total_steps:
                    break
            state.epoch += 1
            self.save_checkpoint()
            self.emit("epoch", epoch=state.epoch, step=state.step, checkpoint=CHECKPOINT)
        return "done"

    @torch.no_grad()
    def sample(self) -> None:
        """One picture from the trigger prompt with the LoRA as it is now (fixed seed, so samples compare)."""
        from diffusers import DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

        parts = self.parts
        parts.vae.to(self.device)
        common = {"vae": parts.vae, "text_encoder": parts.text_encoder, "tokenizer": parts.tokenizer,
                  "unet": parts.unet, "scheduler": DDIMScheduler.from_config(parts.scheduler.config)}
        if parts.architecture == "sdxl":
            pipe = StableDiffusionXLPipeline(text_encoder_2=parts.text_encoder_2, tokenizer_2=parts.tokenizer_2,
                                             **common)
        else:
            pipe = StableDiffusionPipeline(safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                                           **common)
        pipe.set_progress_bar_config(disable=True)
        res = self.params["resolution"]
        image = pipe(self.spec["sample_prompt"], num_inference_steps=self.spec.get("sample_steps", 20),
                     height=res, width=res, generator=torch.Generator(self.device).manual_seed(0)).images[0]
        parts.vae.to("cpu")
        folder = self.work / "samples"
        folder.mkdir(exist_ok=True)
        name = f"step-{self.state.step:06d}.png"
        image.save(folder / name)
        self.emit("sample", step=self.state.step, file=name)

    def export(self) -> Path:
        from safetensors.torch import save_file

        tensors = export.to_kohya(lora_state(self.parts, self.params), self.params["alpha"], dtype=torch.float16)
        meta = export.metadata(rank=self.params["rank"], alpha=self.params["alpha"],
                               architecture=self.parts.architecture, base_model=self.spec["base"]["name"],
                               trigger=self.spec.get("trigger"), steps=self.state.step,
                               text_encoder=self.params["train_text_encoder"])
        path = self.work / self.spec["output_name"]
        save_file(tensors, str(path), metadata=meta)
        self.emit("saved", path=path.name, tensors=len(tensors))
        return path

    def peak_memory_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
