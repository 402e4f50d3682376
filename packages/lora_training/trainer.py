"""The trainer child process: `python -m packages.lora_training.trainer <spec.json>`.

The training job (jobs.py, runner.py) starts it so the server never blocks and a GPU worker can run
it. It prints one JSON object per line on stdout; everything else (warnings, a traceback) is plain
text the parent keeps as the log:
  {"event": "start", "pid", "total_steps", "total_epochs", "images", "device", "precision", "resumed_from_step", ...}
  {"event": "history", "points"}                       (after a resume: [{step, loss}] up to the checkpoint)
  {"event": "step", "step", "epoch", "loss", "grad_norm", "eta_s", "steps_per_s", "step_s"}
  {"event": "epoch", "epoch", "step", "checkpoint"}     (a checkpoint was written: a crash resumes here)
  {"event": "sample", "step", "file"}                   (samples/<file>)
  {"event": "saved", "path", "tensors"}                 (the kohya LoRA in the work folder)
  {"event": "done", "peak_memory_mb", "steps", "seconds"}
  {"event": "stopped", "step"}                          (SIGTERM or the parent died: stopped cleanly)
  {"event": "error", "message"}                         (then exit status 1)
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from pathlib import Path


def emit(event: str, **fields) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _quiet_libraries() -> None:
    """Library chatter (deprecation notes, config dumps) would crowd the run's log tail; errors stay."""
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m packages.lora_training.trainer <spec.json>\n")
        return 2
    stop = {"requested": False}

    def on_term(_signum, _frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    began = time.monotonic()
    try:
        spec = json.loads(Path(argv[0]).read_text())
        import torch

        torch.set_num_threads(int(spec.get("threads") or torch.get_num_threads()))
        _quiet_libraries()
        from packages.lora_training.training import Trainer

        trainer = Trainer(spec, emit, lambda: stop["requested"])
        trainer.prepare()
        trainer.resume()
        if trainer.run() == "stopped":
            emit("stopped", step=trainer.state.step)
            return 0
        trainer.export()
        emit("done", peak_memory_mb=round(trainer.peak_memory_mb(), 1), steps=trainer.state.step,
             seconds=round(time.monotonic() - began, 2))
        return 0
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("error", message=f"{type(exc).__name__}: {exc}"[:2000])
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
