import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from ml_assets.lib.core.memory import return_freed_memory
done = return_freed_memory()
import pyarrow
print(json.dumps({**done, "pool": pyarrow.default_memory_pool().backend_name}))
"""


def _probe(script: str = PROBE, **environment: str) -> dict:
    """What ``script`` prints, in a fresh process without the allocator settings but these."""
    mine = ("ARROW_DEFAULT_MEMORY_POOL", "MALLOC_MMAP_THRESHOLD_")
    clean = {name: value for name, value in os.environ.items() if name not in mine}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_arrow_allocates_through_malloc_and_large_blocks_are_mapped_on_their_own() -> None:
    assert _probe() == {"arrow_system_pool": True, "malloc_mmap_threshold": True, "pool": "system"}


def test_the_users_own_allocator_settings_stand() -> None:
    chosen = _probe(ARROW_DEFAULT_MEMORY_POOL="mimalloc", MALLOC_MMAP_THRESHOLD_="33554432")
    assert chosen == {
        "arrow_system_pool": False,
        "malloc_mmap_threshold": False,
        "pool": "mimalloc",
    }


def test_a_pool_already_in_use_is_switched() -> None:
    in_use = PROBE.replace("from ml_assets", "import pyarrow; pyarrow.array([1]); from ml_assets")
    assert _probe(in_use)["pool"] == "system"
