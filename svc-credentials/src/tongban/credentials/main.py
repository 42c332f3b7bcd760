from pathlib import Path

from fastapi import FastAPI

from tongban.credentials.config import Settings
from tongban.credentials.db import Base, platform
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="credentials", title="Tongban svc-credentials", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
