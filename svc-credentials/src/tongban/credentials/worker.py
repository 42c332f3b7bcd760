from tongban.credentials.main import SERVICE
from tongban.shared.service import run_worker

if __name__ == "__main__":
    # The lifespan (entered by the worker too) installs the key store.
    run_worker(SERVICE)
