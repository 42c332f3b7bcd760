from sqlalchemy.orm import DeclarativeBase

from tongban.shared.audit import AuditTrail
from tongban.shared.db import MAPPER_ARGS, service_metadata
from tongban.shared.events.outbox import Outbox
from tongban.shared.tables import PlatformTables


class Base(DeclarativeBase):
    metadata = service_metadata("catalog")
    __mapper_args__ = MAPPER_ARGS


platform = PlatformTables(Base.metadata)
outbox = Outbox(platform.outbox)
audit = AuditTrail(platform)
