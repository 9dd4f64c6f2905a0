"""What the data assets' type checks cost per batch added: reading the tables back, and Pandera.

    .venv/bin/python benchmarks/type_check_cost.py --rows 1000000

Lands one demo batch of ``--rows`` rows, refreshes the batch store as the ``batches`` step does,
then runs each table's DagsterType check on the rows it added (in chunks, as the check
reads them), twice: the first pays the
one-off import of dagster-pandera and the schema's construction. Prints CPU seconds.
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
from upath import UPath

from ml_assets.assets.schemas import CHECK_ROWS, _pandera_type
from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.data.batches import BatchRules, BatchStore, refresh_batches
from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project

TABLES = ("raw_data", "validated_data", "quarantined_rows", "features")


def main() -> None:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # as the code location does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    project = load_project(DEMO_CONFIG)
    folder = Path(tempfile.mkdtemp(prefix="type_check_cost_"))
    (folder / "landing").mkdir()
    make_demo_frame(args.rows).to_csv(folder / "landing" / "demo.csv", index=False)
    rules = BatchRules(project.contract, project.spec, 0.05, 10**12, "benchmark")
    started = time.process_time()
    refresh = refresh_batches(folder / "landing", BatchStore(UPath(folder / "store")), rules)
    print(f"refresh (read, validate, featurize, store) {time.process_time() - started:.2f} s CPU")
    for attempt in ("first", "second"):
        read = check = 0.0
        for name in TABLES:
            table = refresh.table(name)
            if not table.added_batches:
                continue
            _, dagster_type = _pandera_type(project, name)
            chunks = table.added_chunks(CHECK_ROWS)
            while True:
                started = time.process_time()
                rows = next(chunks, None)
                read_done = time.process_time()
                read += read_done - started
                if rows is None:
                    break
                assert dagster_type.type_check(None, rows).success, name
                check += time.process_time() - read_done
        print(f"type checks, {attempt} run: read back {read:.2f} s + Pandera {check:.2f} s CPU")


if __name__ == "__main__":
    main()
