from tongban.gateway.main import SERVICE
from tongban.shared.service import run_worker

if __name__ == "__main__":
    run_worker(SERVICE)
