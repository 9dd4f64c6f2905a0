"""Freed memory handed back to the system at once, so a long run's peak is its largest step's.

glibc keeps freed blocks for reuse once a large one has been freed (its mapping threshold grows
to 32 MiB), and Arrow's own pool (mimalloc) keeps what it frees too: in a run of many steps in
one process, what one step freed stayed counted against the next. With Arrow's allocations going
through malloc and every block of 4 MiB or more mapped and unmapped on its own, the default
command at 1e6 demo rows peaked at 589 MB instead of 703 MB (the plain script: 616 MB), in no
more time (docs/performance.md, "Memory").
"""

import ctypes
import os
import sys

# Half a million float64s: whole columns are mapped on their own; smaller blocks, such as the
# bootstrap's resamples, stay in the heap (mapping every block of 128 KiB or more took 0.7 s
# more in the evaluation at 1e6 rows, for 45 MB less).
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def return_freed_memory() -> dict[str, bool]:
    """Send Arrow's allocations through malloc, and map every large block on its own.

    Settings the user made stand: ``ARROW_DEFAULT_MEMORY_POOL`` and ``MALLOC_MMAP_THRESHOLD_``,
    read by Arrow and glibc themselves. Says which of the two this call set.
    """
    done = {"arrow_system_pool": False, "malloc_mmap_threshold": False}
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"  # read at Arrow's first allocation
        pyarrow = sys.modules.get("pyarrow")
        if pyarrow is not None:  # imported already: its pool may be in use
            pyarrow.set_memory_pool(pyarrow.system_memory_pool())
        done["arrow_system_pool"] = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc's; absent elsewhere
        if mallopt is not None:
            done["malloc_mmap_threshold"] = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return done
