"""The training loop in-process on the tiny model: only LoRA parameters get gradients, the loss
on a fixed batch falls when overfitting it, and a checkpoint restores the LoRA exactly."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from packages.lora_training.training import Trainer, lora_state  # noqa: E402
from tests.training_model import build_tiny_sd15, picture  # noqa: E402


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora")
    model = build_tiny_sd15(folder / "tiny")
    images = []
    for i in range(2):
        (folder / f"{i}.png").write_bytes(picture(i))
        images.append({"path": str(folder / f"{i}.png"), "caption": f"hero, picture {i}"})
    spec = {"work_dir": str(folder), "images": images, "trigger": "hero", "sample_prompt": "hero",
            "output_name": "lora.safetensors",
            "base": {"name": "models/tiny", "path": str(model), "kind": "diffusers", "architecture": "sd15"},
            "params": {"rank": 4, "alpha": 4, "learning_rate": 1e-2, "epochs": 1, "max_steps": None, "batch_size": 2,
                       "resolution": 64, "train_text_encoder": True, "seed": 3, "precision": "fp32",
                       "sample_every": 0}}
    torch.set_num_threads(1)
    t = Trainer(spec, lambda *a, **k: None, lambda: False)
    t.prepare()
    return t


def test_only_lora_parameters_receive_gradients(trainer):
    """After a backward pass every parameter with a gradient is a LoRA weight (UNet and text encoder),
    and the base model's weights have none."""
    loss = trainer.loss(torch.tensor([0, 1]))
    loss.backward()
    named = [*trainer.parts.unet.named_parameters(), *trainer.parts.text_encoder.named_parameters()]
    with_grad = {n for n, p in named if p.grad is not None}
    assert with_grad and all(".lora_" in n for n in with_grad)
    assert {n for n, p in named if p.requires_grad} == with_grad
    assert any(n.startswith("encoder.") for n, p in trainer.parts.text_encoder.named_parameters() if p.requires_grad)
    assert all(p.grad is None for p in trainer.parts.vae.parameters())
    trainer.optimizer.zero_grad(set_to_none=True)


def test_overfitting_a_fixed_batch_lowers_the_loss(trainer):
    """Same images, same noise, same timesteps: 60 AdamW steps bring the loss down, step after step."""
    index = torch.tensor([0, 1])
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(trainer.latents[index].shape, generator=generator)
    timesteps = torch.tensor([300, 600])
    with torch.no_grad():
        before = float(trainer.loss(index, noise=noise, timesteps=timesteps))
    losses = [trainer.step(index, noise=noise, timesteps=timesteps)[0] for _ in range(60)]
    with torch.no_grad():
        after = float(trainer.loss(index, noise=noise, timesteps=timesteps))
    assert all(math.isfinite(x) for x in losses)
    assert after < 0.9 * before, (before, after)
    assert sum(losses[-5:]) < sum(losses[:5])


def test_a_checkpoint_restores_the_lora_and_the_loss_history(trainer):
    """save_checkpoint then resume gives back the same LoRA weights, step, epoch and loss history."""
    trainer.state.step, trainer.state.epoch = 5, 1
    trainer.state.history = [{"step": i, "loss": 1.0 / i} for i in range(1, 6)]
    saved = {part: {k: v.clone() for k, v in state.items()} for part, state in lora_state(trainer.parts,
                                                                                        trainer.params).items()}
    trainer.save_checkpoint()
    with torch.no_grad():
        for p in trainer.trainable:
            p.add_(1.0)
    trainer.state.step, trainer.state.history = 0, []
    trainer.resume()
    assert (trainer.state.step, trainer.state.epoch) == (5, 1)
    assert [p["step"] for p in trainer.state.history] == [1, 2, 3, 4, 5]
    for part, state in lora_state(trainer.parts, trainer.params).items():
        for key, value in state.items():
            assert torch.equal(value, saved[part][key]), key
