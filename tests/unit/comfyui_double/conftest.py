"""Fixtures of the ComfyUI double tests: a double on loopback and an HTTP client to it."""

from __future__ import annotations

import httpx
import pytest

from tests.doubles.comfyui import ComfyUIDouble
from tests.unit.comfyui_double.kit import CKPT


@pytest.fixture
def comfy():
    with ComfyUIDouble(latency=0.02) as double:
        double.checkpoints = [CKPT, "ltx-video-2b-v0.9.5.safetensors"]
        yield double


@pytest.fixture
async def http(comfy):
    async with httpx.AsyncClient(base_url=comfy.url, timeout=10) as client:
        yield client
