from tongban.credentials.config import Settings
from tongban.credentials.main import SERVICE
from tongban.credentials.signing import keystore
from tongban.shared.service import run_worker

if __name__ == "__main__":
    keystore.install(keystore.FileKeyStore(Settings().key_dir))
    run_worker(SERVICE)
