"""`python -m tongban.interop.worker`: the outbox relay, the catalogue consumer and the deliverer
without the web API (set INTEROP_RUN_WORKER=false on the web processes)."""

import asyncio
import signal
from types import SimpleNamespace

from tongban.interop.main import SERVICE, lifespan
from tongban.shared.logging import configure_logging
from tongban.shared.service import Runtime


async def main() -> None:
    settings = SERVICE.settings(run_worker=True)
    configure_logging("interop-worker", settings.log_level)
    runtime = Runtime(SERVICE, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop.set)
    await runtime.start(with_worker=True)

    # The lifespan keeps the key ring on `app.state`; without the web app a namespace holds it.
    holder = SimpleNamespace(state=SimpleNamespace())
    try:
        async with lifespan(holder, runtime):  # type: ignore[arg-type]
            await runtime.stop.wait()
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
