from tongban.credentials.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "CREDENTIALS_DATABASE_URL")
