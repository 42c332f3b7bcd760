import datetime as dt
import uuid

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.gateway.db import Base


class WeChatIdentity(Base):
    """A WeChat user in one of the city's mini-programs (appid + openid), bound to an account.
    `unionid` is the same person across the city's mini-programs (one open-platform account): a
    person bound in one mini-program logs in from another with the same account, and that
    mini-program's openid is added here on the way."""

    __tablename__ = "wechat_identity"
    __table_args__ = (UniqueConstraint("appid", "openid", name="uq_wechat_identity_appid_openid"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("gateway.account.id"), index=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
