from tongban.cases.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "CASES_DATABASE_URL")
