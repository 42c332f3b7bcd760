from sqlalchemy.orm import DeclarativeBase

from tongban.shared.audit import AuditTrail
from tongban.shared.db import service_metadata
from tongban.shared.events.outbox import Outbox
from tongban.shared.tables import PlatformTables


class Base(DeclarativeBase):
    metadata = service_metadata("gateway")


platform = PlatformTables(Base.metadata)
audit = AuditTrail(platform)
outbox = Outbox(platform.outbox)
