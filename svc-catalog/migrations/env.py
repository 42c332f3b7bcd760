from tongban.catalog.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "CATALOG_DATABASE_URL")
