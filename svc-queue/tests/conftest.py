import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from queue_helpers import Tokens  # noqa: E402
from tongban.queue.main import SERVICE  # noqa: E402
from tongban.shared.testing.plugin import running_service  # noqa: E402


@pytest.fixture
def tokens(token_issuer) -> Tokens:
    return Tokens(token_issuer)


@pytest.fixture
async def client(infra, token_issuer, clean_nats):
    async with running_service(SERVICE, infra, token_issuer, run_worker=False) as c:
        yield c
