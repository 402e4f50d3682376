"""The config folders shipped for loading single-file checkpoints offline describe the real SD1.5 and
SDXL architectures: built without weights (meta tensors), every part has the published size."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch, unet", [("sd15", 859_520_964), ("sdxl", 2_567_463_684)])
def test_shipped_configs_build_the_published_architectures(arch, unet):
    """UNet, VAE and CLIP-L text encoder of each config have the released models' parameter counts."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from packages.lora_training.loading import CONFIGS

    with init_empty_weights():
        assert count(UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS / arch,
                                                                                       subfolder="unet"))) == unet
        assert count(AutoencoderKL.from_config(AutoencoderKL.load_config(CONFIGS / arch, subfolder="vae"))) == 83_653_863
        text = CLIPTextConfig.from_pretrained(CONFIGS / arch, subfolder="text_encoder")
        assert count(CLIPTextModel(text)) == 123_060_480


def test_the_sdxl_config_has_openclip_bigg_as_second_encoder():
    """SDXL's second text encoder is OpenCLIP ViT-bigG with its projection (694.7M parameters)."""
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from packages.lora_training.loading import CONFIGS

    with init_empty_weights():
        config = CLIPTextConfig.from_pretrained(CONFIGS / "sdxl", subfolder="text_encoder_2")
        assert count(CLIPTextModelWithProjection(config)) == 694_659_840
