"""The start-up heap is frozen once per process (gc.freeze), not at every start of an app."""

import subprocess
import sys

SCRIPT = """
import gc
from tongban.shared import service as main
gc.unfreeze()
first = main.settle_heap()
frozen = gc.get_freeze_count()
second = main.settle_heap()
print(first, frozen > 1000, second, gc.get_freeze_count() == frozen)
"""


def test_the_start_up_heap_is_frozen_once_per_process():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    # Frozen at the first start-up (the modules, the app's definitions); a second start (the test
    # suite starts apps again and again) freezes nothing more, so it pins none of its objects.
    assert out.stdout.split() == ["True", "True", "False", "True"]
