from tongban.gateway.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "GATEWAY_DATABASE_URL")
