from pathlib import Path

from fastapi import FastAPI

from tongban.queue.config import Settings
from tongban.queue.db import Base, platform
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="queue", title="Tongban svc-queue", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
