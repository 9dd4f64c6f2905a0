"""How many threads native libraries (BLAS, OpenMP) use in the steps after training."""

from contextlib import AbstractContextManager


def one_thread() -> AbstractContextManager:
    """BLAS and OpenMP limited to one thread inside the block.

    After training the work is many small calls (baseline fits, predictions, bootstrap matrix
    products): a pool of threads per call costs more than it gives, and beside another CPU-bound
    process its threads wait on each other at every barrier. On the 32-class table, evaluation
    took 10.5 s with the pools and 1 s with one thread on a loaded machine.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
