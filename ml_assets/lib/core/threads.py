"""Threads: how many native libraries (BLAS, OpenMP) use after training; the parser's lock."""

import threading
from contextlib import AbstractContextManager

# CPython 3.11 before 3.11.8 (gh-106905) keeps the ast module's recursion depth in state that
# threads share: two ``ast.parse`` at once (pandas' eval of a derived column in a request, numpy
# reading each .npy header of a skops archive as the service loads a model) can fail with
# "AST constructor recursion depth mismatch". Code that parses while others may holds this.
AST_PARSING = threading.RLock()


def one_thread() -> AbstractContextManager:
    """BLAS and OpenMP limited to one thread inside the block.

    After training the work is many small calls (baseline fits, predictions, bootstrap matrix
    products): a pool of threads per call costs more than it gives, and beside another CPU-bound
    process its threads wait on each other at every barrier. On the 32-class table, evaluation
    took 10.5 s with the pools and 1 s with one thread on a loaded machine.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
