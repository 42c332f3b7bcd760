"""`python -m tongban.interop.worker`: the outbox relay, the consumers, the deliverer and the partner
pulls without the web API (set INTEROP_RUN_WORKER=false on the web processes)."""

from tongban.interop.main import SERVICE
from tongban.shared.service import run_worker

if __name__ == "__main__":
    run_worker(SERVICE)
