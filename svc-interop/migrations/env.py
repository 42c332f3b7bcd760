from tongban.interop.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "INTEROP_DATABASE_URL")
