"""Soak: SIGKILL `dagster asset materialize` at random moments; each next run must succeed.

Each round starts the README's command on a throwaway instance and data folder, kills it at a
seeded random moment of a normal run's duration, checks the model on disk, then runs the command
again normally and checks what it left: the run's result, claimed concurrency slots, temporary
files and the model. Nothing is cleaned up between rounds by hand.

    .venv/bin/python scripts/soak.py --rounds 20 --seed 13
"""

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ml_assets.lib.core.storage import ArtifactLoadError, load_model_bytes
from ml_assets.run_recovery import recover

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
COMMAND = [DAGSTER, "asset", "materialize", "-m", "ml_assets", "--select", "*"]
STEP_START = " - STEP_START - "


@dataclass
class Round:
    """What one kill and the normal run after it did."""

    killed_after: float
    killed_in: str
    model_loads_after_kill: bool
    temp_files_after_kill: int
    next_run_ok: bool
    next_run_seconds: float
    leaked_slots: int
    orphan_temp_files: int
    model_loads_after_next: bool


class Soak:
    """One instance and data folder, reused by every round, as a user's would be."""

    def __init__(self, folder: Path, timeout: float) -> None:
        self.home, self.data, self.timeout = folder / "dagster_home", folder / "data", timeout
        self.home.mkdir()
        shutil.copy(ROOT / "dagster_home" / "dagster.yaml", self.home)
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "ML_ASSETS_DATA_DIR": str(self.data),
        }
        migrate = [DAGSTER, "instance", "migrate"]
        subprocess.run(migrate, env=self.env, capture_output=True, check=True)
        self.log = folder / "run.log"

    def start(self) -> subprocess.Popen:
        with self.log.open("wb") as out:
            return subprocess.Popen(
                COMMAND,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def run(self) -> tuple[bool, float]:
        """The command run normally: (succeeded within the timeout, seconds taken)."""
        started = time.monotonic()
        process = self.start()
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return False, time.monotonic() - started
        finally:
            stop_group(process)
        return process.returncode == 0, time.monotonic() - started

    def kill_after(self, seconds: float) -> str:
        """Start the command, SIGKILL its process after ``seconds``; return the step it was in."""
        process = self.start()
        try:
            time.sleep(seconds)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            stop_group(process)
        starts = [line for line in self.log.read_text().splitlines() if STEP_START in line]
        return starts[-1].split(" - ")[-3] if starts else "(before the first step)"

    def model_loads(self) -> bool:
        try:
            load_model_bytes((self.data / "storage" / "trained_model.skops").read_bytes(), "model")
        except (OSError, ArtifactLoadError):
            return False
        return True

    def leaked_slots(self) -> int:
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return len(instance.event_log_storage.get_concurrency_run_ids())

    def temp_files(self) -> list[Path]:
        return sorted(self.data.rglob(".*.tmp"))


def stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def soak(rounds: int, seed: int, folder: Path) -> list[Round]:
    """Warm up with one normal run (its duration bounds the kill moments), then the rounds."""
    session = Soak(folder, timeout=600)
    ok, baseline = session.run()
    if not ok:
        raise SystemExit(f"the first normal run failed:\n{session.log.read_text()[-3000:]}")
    session.timeout = max(120.0, 5 * baseline)
    print(f"normal run: {baseline:.1f}s; kills at a uniform moment of 0-{baseline:.1f}s")
    moments = random.Random(seed)
    results = []
    for number in range(1, rounds + 1):
        delay = moments.uniform(0, baseline)
        step = session.kill_after(delay)
        loads_after_kill = session.model_loads()
        left_by_kill = len(session.temp_files())
        ok, seconds = session.run()
        result = Round(
            killed_after=delay,
            killed_in=step,
            model_loads_after_kill=loads_after_kill,
            temp_files_after_kill=left_by_kill,
            next_run_ok=ok,
            next_run_seconds=seconds,
            leaked_slots=session.leaked_slots(),
            orphan_temp_files=len(session.temp_files()),
            model_loads_after_next=session.model_loads(),
        )
        results.append(result)
        print(
            f"round {number:2}: killed after {delay:5.1f}s in {step:<23} "
            f"(temp files left: {left_by_kill}), next run "
            f"{'ok' if ok else 'FAILED'} in {seconds:5.1f}s, slots {result.leaked_slots}, "
            f"temp files {result.orphan_temp_files}, model loads "
            f"{result.model_loads_after_kill and result.model_loads_after_next}",
            flush=True,
        )
    with dg.DagsterInstance.from_config(str(session.home)) as instance:
        dead, _freed = recover(instance)
    print(f"killed runs left STARTED, then found dead by ml_assets.run_recovery: {len(dead)}")
    return results


def report(results: list[Round]) -> None:
    """The soak's figures, one a line."""
    rounds = len(results)
    print(f"kills survived (next run succeeded): {sum(r.next_run_ok for r in results)}/{rounds}")
    print(f"slowest next run: {max(r.next_run_seconds for r in results):.1f}s")
    print(f"leaked slots after the next runs: {sum(r.leaked_slots for r in results)}")
    left = sum(r.temp_files_after_kill > 0 for r in results)
    print(f"kills that left a temporary file (for the next run to remove): {left}")
    print(f"orphan temp files after the next runs: {sum(r.orphan_temp_files for r in results)}")
    always = all(r.model_loads_after_kill and r.model_loads_after_next for r in results)
    print(f"model on disk always loads (after each kill and each next run): {always}")


def main() -> None:
    """Parse the options, soak, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml_assets_soak.") as folder:
        report(soak(options.rounds, options.seed, Path(folder)))


if __name__ == "__main__":
    main()
