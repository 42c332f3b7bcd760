from tongban.queue.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "QUEUE_DATABASE_URL")
