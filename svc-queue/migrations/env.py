import tongban.queue.main  # noqa: F401 - registers every model on the metadata (autogenerate sees them)
from tongban.queue.db import Base
from tongban.shared.migrations import run_env

run_env(Base.metadata, "QUEUE_DATABASE_URL")
