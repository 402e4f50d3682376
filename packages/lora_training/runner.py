"""One training run inside its job: write the spec, start the trainer child, record its JSON lines
on the row (throttled progress events), stop it on cancel (SIGTERM, SIGKILL after the grace
period), and finish: the LoRA copied into output/loras/ and COMFYUI_MODELS_DIR/loras/, a `loras`
row, the character's active LoRA. A crashed child fails the run with its last log lines. If the
worker itself dies the job is retried (stalled-job recovery) and the child resumes from the last
epoch's checkpoint in output/training/<run id>/. No torch is imported here."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.core.jobs import runtime
from packages.core.paths import inside_home
from packages.core.procs import dies_with_parent
from packages.core.settings import Settings
from packages.lora_training import base_models, events, queries, service
from packages.lora_training.schemas import TERMINAL

CHECKPOINT = "checkpoint.safetensors"  # written by the trainer (training.py) after each epoch

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
LOG_LINES = 40
PROGRESS_EVERY_S = 0.5  # at most two progress events a second; the loss series is on the row
CANCEL_POLL_S = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


def caption_for(settings: Settings, image_path: Path, row_caption: str | None, design_prompt: str,
                trigger: str) -> str:
    """The kohya caption beside the image, else the stored caption, else the design prompt; the trigger first."""
    text = ""
    txt = image_path.with_suffix(".txt")
    if txt.is_file():
        text = txt.read_text(encoding="utf-8", errors="replace").strip()
    text = text or (row_caption or "").strip() or design_prompt.strip()
    if text.lower().startswith(trigger.lower()):
        return text
    return f"{trigger}, {text}" if text else trigger


def build_spec(settings: Settings, run, character, images) -> dict:
    """The trainer's input (written to output/training/<id>/spec.json). DomainError when it cannot run."""
    base = base_models.resolve(settings, run["base_model"])
    params = dict(run["params"])
    trigger = params["trigger"]
    found = []
    for image in images:
        path = inside_home(settings, settings.home / image["path"])
        if path.is_file():
            found.append({"path": str(path), "caption": caption_for(settings, path, image["caption"],
                                                                    character["design_prompt"], trigger)})
    if len(found) < settings.training_min_images:
        raise DomainError(f"Only {len(found)} approved images are on disk; training needs "
                          f"{settings.training_min_images}", code="not_enough_images")
    work = service.work_dir(settings, run["id"])
    return {"run_id": run["id"], "work_dir": str(work), "images": found, "params": params, "trigger": trigger,
            "base": {"name": base.name, "path": str(base.path), "kind": base.kind, "architecture": base.architecture},
            "architecture": base.architecture,
            "sample_prompt": ", ".join(t for t in (trigger, character["design_prompt"]) if t),
            "sample_steps": 20, "threads": settings.training_threads or None,
            "output_name": service.lora_file_name(character["project_slug"], character["slug"], run["id"])}


class Recorder:
    """Turns the child's lines into row updates and events."""

    def __init__(self, run, character, architecture: str):
        self.run_id, self.character, self.architecture = run["id"], character, architecture
        self.ids = {"project_id": character["project_id"], "character_id": character["id"], "run_id": run["id"]}
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.losses: list[dict] = []
        self.fields: dict = {}
        self.last: dict = {}
        self.total_steps = 0
        self.saved: str | None = None
        self.error: str | None = None
        self.done: dict | None = None
        self.flushed = 0.0

    async def line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip()
        if not text:
            return
        try:
            message = json.loads(text) if text.startswith("{") else None
        except ValueError:
            message = None
        if not isinstance(message, dict) or "event" not in message:
            self.log.append(text[:500])
            return
        kind = message["event"]
        if kind != "step":
            self.log.append(text[:500])
        if kind == "start":
            self.total_steps = message["total_steps"]
            await self.write({"total_steps": message["total_steps"], "total_epochs": message["total_epochs"]},
                             events.TrainingStarted(**self.ids, total_steps=message["total_steps"],
                                                    resumed_from_step=message.get("resumed_from_step", 0)))
        elif kind == "step":
            self.losses.append({"step": message["step"], "loss": message["loss"]})
            self.last = message
            self.fields.update(step=message["step"], epoch=max(message["epoch"] - 1, self.fields.get("epoch", 0)),
                               eta_s=message.get("eta_s"))
            if time.monotonic() - self.flushed >= PROGRESS_EVERY_S:
                await self.flush()
        elif kind == "history":  # after a resume: losses the interrupted attempt may not have recorded
            self.losses = [*message["points"], *self.losses]
            await self.flush()
        elif kind == "epoch":
            self.fields.update(epoch=message["epoch"], step=message["step"])
            await self.flush()
        elif kind == "sample":
            await self.flush()
            url = f"training/runs/{self.run_id}/samples/{message['file']}"
            async with runtime.acquire() as conn, transaction(conn) as tx:
                await queries.append_sample(conn, self.run_id, {"step": message["step"], "file": message["file"]})
                await tx.emit(events.TrainingSample(**self.ids, step=message["step"], url=url))
        elif kind == "saved":
            self.saved = message["path"]
        elif kind == "done":
            self.done = message
        elif kind == "error":
            self.error = message.get("message") or "the trainer failed"
        elif kind == "stopped":
            self.error = self.error or f"The trainer was stopped (SIGTERM) at step {message.get('step')}"

    async def write(self, fields: dict, event=None) -> None:
        async with runtime.acquire() as conn, transaction(conn) as tx:
            await queries.update_run(conn, self.run_id, {**fields, "log_tail": list(self.log)})
            if event is not None:
                await tx.emit(event)

    async def flush(self) -> None:
        """The step, epoch, ETA and new loss points on the row, and one progress event."""
        self.flushed = time.monotonic()
        if not self.losses and not self.fields:
            return
        losses, self.losses = self.losses, []
        async with runtime.acquire() as conn, transaction(conn) as tx:
            if losses:
                await queries.append_loss(conn, self.run_id, losses)
            await queries.update_run(conn, self.run_id, {**self.fields, "log_tail": list(self.log)})
            if self.last:
                await tx.emit(events.TrainingProgress(**self.ids, step=self.last["step"], total_steps=self.total_steps,
                                                      epoch=self.last["epoch"], loss=self.last["loss"]))


async def _stop(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM (the trainer stops after its current step), SIGKILL after `grace` seconds."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def _watch_cancel(proc, run_id: int, grace: float, cancelled: asyncio.Event) -> None:
    while proc.returncode is None:
        await asyncio.sleep(CANCEL_POLL_S)
        async with runtime.acquire() as conn:
            if await queries.cancel_requested(conn, run_id):
                cancelled.set()
                await _stop(proc, grace)
                return


async def _start_child(spec_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "packages.lora_training.trainer", str(spec_path), cwd=str(spec_path.parent), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, limit=1 << 20, **dies_with_parent())


async def _end(run, character, status: str, fields: dict, event) -> None:
    async with runtime.acquire() as conn, transaction(conn) as tx:
        await queries.update_run(conn, run["id"], {"status": status, "finished_at": _now(), "eta_s": None, **fields})
        await tx.emit(event)


def _place(settings: Settings, source: Path, name: str) -> Path:
    """Copies the LoRA to output/loras/<name> and, when set, COMFYUI_MODELS_DIR/loras/<name>."""
    targets = [service.loras_dir(settings) / name]
    if settings.comfyui_models_dir:
        targets.append(Path(settings.comfyui_models_dir).expanduser() / "loras" / name)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{name}.tmp")
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    return targets[0]


async def _succeed(settings: Settings, run, character, recorder: Recorder) -> None:
    work = service.work_dir(settings, run["id"])
    params, name = run["params"], recorder.saved
    output = await asyncio.to_thread(_place, settings, work / name, name)
    relative = str(output.relative_to(settings.home))
    done = recorder.done or {}
    async with runtime.acquire() as conn, transaction(conn) as tx:
        lora_id = await queries.insert_lora(conn, character_id=character["id"], run_id=run["id"], name=name,
                                            path=relative, trigger=params["trigger"],
                                            architecture=recorder.architecture, rank=params["rank"],
                                            alpha=params["alpha"])
        await queries.set_active_lora(conn, character["id"], lora_id)
        await queries.update_run(conn, run["id"], {
            "status": "succeeded", "finished_at": _now(), "eta_s": None, "output_path": relative,
            "peak_memory_mb": done.get("peak_memory_mb"), "log_tail": list(recorder.log),
            "step": done.get("steps", recorder.fields.get("step", 0))})
        await tx.emit(events.TrainingCompleted(**recorder.ids, lora_id=lora_id, output_path=relative))
    await asyncio.to_thread((work / CHECKPOINT).unlink, True)


async def execute(run_id: int) -> None:
    settings = runtime.settings
    async with runtime.acquire() as conn:
        run = await queries.get_run(conn, run_id)
        if run is None or run["status"] in TERMINAL:
            return  # finished before: a second run of the job does nothing
        character = await character_queries.get_character(conn, run["character_id"])
        images = await queries.approved_images(conn, run["character_id"])
    ids = {"project_id": character["project_id"], "character_id": character["id"], "run_id": run_id}
    if run["cancel_requested"]:
        await _end(run, character, "cancelled", {}, events.TrainingCancelled(**ids))
        return
    try:
        spec = await asyncio.to_thread(build_spec, settings, run, character, images)
    except DomainError as exc:
        await _end(run, character, "failed", {"error": exc.detail}, events.TrainingFailed(**ids, error=exc.detail))
        return
    work = Path(spec["work_dir"])
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    spec_path = work / "spec.json"
    await asyncio.to_thread(spec_path.write_text, json.dumps(spec))
    async with runtime.acquire() as conn:
        if await queries.start_attempt(conn, run_id) is None:
            if (await queries.get_run(conn, run_id))["status"] not in TERMINAL:  # cancel asked meanwhile
                await _end(run, character, "cancelled", {}, events.TrainingCancelled(**ids))
            return
    recorder = Recorder(run, character, spec["architecture"])
    cancelled = asyncio.Event()
    proc = await _start_child(spec_path)
    watcher = asyncio.create_task(_watch_cancel(proc, run_id, settings.training_cancel_grace_s, cancelled))
    try:
        async for raw in proc.stdout:
            await recorder.line(raw)
        returncode = await proc.wait()
    except asyncio.CancelledError:  # the worker is stopping: stop the child; the retried job resumes
        await asyncio.shield(_stop(proc, settings.training_cancel_grace_s))
        raise
    except Exception as exc:  # a bug, or the database went away: stop the child, the row says why
        log.exception("training run %s: recording the trainer failed", run_id)
        await asyncio.shield(_stop(proc, settings.training_cancel_grace_s))
        await _end(run, character, "failed", {"error": f"Internal error: {exc}"[:2000]},
                   events.TrainingFailed(**ids, error=f"Internal error: {exc}"[:2000]))
        return
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    await recorder.flush()
    if cancelled.is_set():
        await _end(run, character, "cancelled", {"log_tail": list(recorder.log)}, events.TrainingCancelled(**ids))
    elif returncode == 0 and recorder.saved and recorder.done:
        try:
            await _succeed(settings, run, character, recorder)
        except OSError as exc:  # e.g. COMFYUI_MODELS_DIR not writable, disk full
            await _end(run, character, "failed", {"error": f"Saving the LoRA failed: {exc}"},
                       events.TrainingFailed(**ids, error=f"Saving the LoRA failed: {exc}"))
    else:
        error = recorder.error or (f"The trainer stopped with exit status {returncode}"
                                   + (f": {recorder.log[-1]}" if recorder.log else ""))
        await _end(run, character, "failed", {"error": error[:2000], "log_tail": list(recorder.log)},
                   events.TrainingFailed(**ids, error=error[:2000]))
