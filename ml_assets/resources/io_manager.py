"""The artifact IO manager: Parquet frames, skops models and JSON reports, written atomically.

Built on ``dg.UPathIOManager`` so the same code serves a local folder or any fsspec URL. Each
asset declares its ``storage_format`` in its definition metadata; that picks the file extension
and the codec, so a reader never guesses.
"""

import json
from typing import Any

import dagster as dg
from upath import UPath

from ml_assets.lib.frames import FrameHandoff, read_frame, write_frame
from ml_assets.lib.storage import (
    ArtifactLoadError,
    atomic_write_bytes,
    atomic_write_text,
    dump_model,
    load_model_bytes,
)
from ml_assets.resources.storage import EXTENSIONS, storage_format

HANDOFF = FrameHandoff()


class ArtifactIOManager(dg.UPathIOManager):
    """Stores each asset as ``<base>/<asset key><extension>``, replacing it atomically.

    Reports are JSON, with their ``markdown`` entry written beside them as a ``.md`` file; tables
    meant for people also get a spreadsheet-safe ``.csv`` copy. A table just written is handed
    to the next step of the same process instead of being read back (see ``FrameHandoff``).
    """

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        """Asset key path plus the extension of the asset's declared format."""
        path = super().get_asset_relative_path(context)
        return path.with_name(path.name + EXTENSIONS[storage_format(context)])

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        """Serialise ``obj`` in its declared format through a temp file and a rename."""
        fmt = storage_format(context)
        if fmt in ("parquet", "table"):
            write_frame(path, obj)
            HANDOFF.keep(path, obj)
            if fmt == "table":
                from ml_assets.lib.safe_csv import safe_csv

                atomic_write_text(path.with_suffix(".csv"), safe_csv(obj))
        elif fmt == "skops":
            atomic_write_bytes(path, dump_model(obj))
        else:
            report = {key: value for key, value in obj.items() if key != "markdown"}
            if obj.get("markdown"):
                atomic_write_text(path.with_suffix(".md"), obj["markdown"])
            atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True, default=str))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        """Read an artifact back, refusing damaged or untrusted files with the path in the error."""
        fmt = storage_format(context)
        if not path.exists():
            key = context.asset_key.to_user_string()
            raise ArtifactLoadError(f"{path}: no stored artifact; materialize {key} first")
        if fmt in ("parquet", "table"):
            handed = HANDOFF.take(path)
            if handed is not None:
                return handed
            with path.open("rb") as handle:
                return read_frame(handle)
        if fmt == "skops":
            return load_model_bytes(path.read_bytes(), str(path))
        return json.loads(path.read_text())
