"""The artifact IO manager: batch tables, skops models and JSON reports, written atomically.

Built on ``dg.UPathIOManager`` so the same code serves a local folder or any fsspec URL. Each
asset declares its ``storage_format`` in its definition metadata; that picks the file extension
and the codec, so a reader never guesses. The rows of the batch tables are Parquet files of the
batch store; what this stores for them is the list of batches they are made of.
"""

import json
from typing import Any

import dagster as dg

from ml_assets.resources.settings import PipelineSettings

STORAGE_FORMAT = "storage_format"
EXTENSIONS = {"batch_table": ".json", "skops": ".skops", "report": ".json"}


def storage_format(context: dg.InputContext | dg.OutputContext) -> str:
    """The format the producing asset declared."""
    output = context.upstream_output if isinstance(context, dg.InputContext) else context
    metadata = (output.definition_metadata if output is not None else None) or {}
    fmt = metadata.get(STORAGE_FORMAT)
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown storage_format {fmt!r}; expected one of {sorted(EXTENSIONS)}")
    return fmt


class ArtifactIOManager(dg.UPathIOManager):
    """Stores each asset as ``<base>/<asset key><extension>``, replacing it atomically.

    Reports are JSON, with their ``markdown`` and ``html`` entries written beside them as ``.md``
    and ``.html`` files.
    """

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> Any:
        """Asset key path plus the extension of the asset's declared format."""
        path = super().get_asset_relative_path(context)
        return path.with_name(path.name + EXTENSIONS[storage_format(context)])

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: Any) -> None:
        """Serialise ``obj`` in its declared format through a temp file and a rename."""
        from ml_assets.lib.storage import atomic_write_bytes, atomic_write_text, dump_model

        fmt = storage_format(context)
        if fmt == "batch_table":
            atomic_write_text(path, obj.to_json())
        elif fmt == "skops":
            atomic_write_bytes(path, dump_model(obj))
        else:
            report = {key: value for key, value in obj.items() if key not in ("markdown", "html")}
            if obj.get("markdown"):
                atomic_write_text(path.with_suffix(".md"), obj["markdown"])
            if obj.get("html"):
                atomic_write_text(path.with_suffix(".html"), obj["html"])
            atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True, default=str))

    def load_from_path(self, context: dg.InputContext, path: Any) -> Any:
        """Read an artifact back, refusing damaged or untrusted files with the path in the error."""
        from ml_assets.lib.storage import ArtifactLoadError, load_model_bytes

        fmt = storage_format(context)
        if not path.exists():
            key = context.asset_key.to_user_string()
            raise ArtifactLoadError(f"{path}: no stored artifact; materialize {key} first")
        if fmt == "batch_table":
            from ml_assets.lib.batch_records import BatchTable

            return BatchTable.from_json(path.read_text())
        if fmt == "skops":
            return load_model_bytes(path.read_bytes(), str(path))
        return json.loads(path.read_text())


class ArtifactStorage(dg.ConfigurableIOManagerFactory):
    """Artifacts under ``<data_dir>/storage``: a local folder, or any fsspec URL for data_dir."""

    settings: PipelineSettings

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        """Build the IO manager rooted at the settings' storage folder."""
        from upath import UPath

        return ArtifactIOManager(base_path=UPath(self.settings.storage_dir))
