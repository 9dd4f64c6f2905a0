"""Send demo records with request keys to a running `ml-assets serve`, then land their labels.

The canary needs traffic and, later, the truth about it: this plays both parts on the demo. It
posts ``--requests`` fresh demo records (each with its own key, so the service routes each one
to an arm), prints how many each arm served, and writes ``<data_dir>/labels/<name>.csv``
(``request_key`` and the target, from the same demo rows) for the ``ab_test_report`` asset.

    .venv/bin/python scripts/canary_traffic.py --url http://127.0.0.1:8000 --requests 1000
"""

import argparse
import http.client
import json
import math
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.core.storage import atomic_write_bytes
from ml_assets.lib.project.project_config import load_project

CHUNK = 200  # records per request, well under the service's caps


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running service")
    parser.add_argument("--requests", type=int, default=1000, help="records to send, one key each")
    parser.add_argument("--seed", type=int, default=11, help="of the demo rows (and the keys)")
    parser.add_argument("--labels", type=Path, help="default: <data_dir>/labels/canary-<seed>.csv")
    return parser.parse_args(argv)


def _clean(record: dict) -> dict:
    """JSON has no NaN: a missing value is a null."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


def _post(connection: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, bytes]:
    """POST ``body`` as JSON on the kept-alive connection: the status and the answer's bytes.

    The standard library's client, so the script runs on the runtime install (no httpx).
    """
    payload = json.dumps(body).encode("utf-8")
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    return answer.status, answer.read()


def main(argv: list[str] | None = None) -> int:
    """Send the records, print the split, write the labels file."""
    args = _arguments(argv)
    project = load_project()
    target = project.spec.target
    frame = make_demo_frame(args.requests, seed=args.seed)
    frame["request_key"] = [f"canary-{args.seed}-{row}" for row in range(len(frame))]
    arms: Counter = Counter()
    url = urlsplit(args.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        for start in range(0, len(frame), CHUNK):
            chunk = frame.iloc[start : start + CHUNK]
            records = [
                _clean(r) for r in chunk.drop(columns=[target, "request_key"]).to_dict("records")
            ]
            body = {"records": records, "keys": chunk["request_key"].tolist()}
            status, answer = _post(connection, f"{url.path.rstrip('/')}/predict", body)
            if status != 200:
                text = answer.decode("utf-8", "replace")[:500]
                print(f"canary_traffic: {status} {text}", file=sys.stderr)
                return 1
            predictions = json.loads(answer)["predictions"]
            arms.update(f"{p['arm']} {p['model_version']}" for p in predictions)
    finally:
        connection.close()
    labels = args.labels or project.resolved_data_dir() / "labels" / f"canary-{args.seed}.csv"
    labels.parent.mkdir(parents=True, exist_ok=True)
    csv = frame[["request_key", target]].to_csv(index=False, lineterminator="\n")
    atomic_write_bytes(labels, csv.encode("utf-8"))
    print(f"served {len(frame)} records: {json.dumps(dict(sorted(arms.items())))}")
    print(f"wrote {labels} ({len(frame)} labels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
