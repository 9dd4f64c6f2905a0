"""The artifact IO manager: batch tables, skops models and JSON reports, written atomically.

Built on ``dg.UPathIOManager`` so the same code serves a local folder or any fsspec URL. Each
asset declares its ``storage_format`` in its definition metadata; that picks the file extension
and the codec, so a reader never guesses. The rows of the batch tables are Parquet files of the
batch store; what this stores for them is the list of batches they are made of. An asset that
declares none (a user's own asset downstream of ``features``) is a DataFrame stored as Parquet.
"""

import functools
import json
import os
import socket
from typing import Any

import dagster as dg

from ml_assets.resources.settings import PipelineSettings, batch_store

STORAGE_FORMAT = "storage_format"
EXTENSIONS = {
    "batch_table": ".json",
    "skops": ".skops",
    "report": ".json",
    "dataframe": ".parquet",
}
UNDECLARED = "dataframe"


def storage_format(context: dg.InputContext | dg.OutputContext) -> str:
    """The format the producing asset declared (a DataFrame as Parquet when it declared none)."""
    output = context.upstream_output if isinstance(context, dg.InputContext) else context
    metadata = (output.definition_metadata if output is not None else None) or {}
    fmt = metadata.get(STORAGE_FORMAT, UNDECLARED)
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown storage_format {fmt!r}; expected one of {sorted(EXTENSIONS)}")
    return fmt


class ArtifactIOManager(dg.UPathIOManager):
    """Stores each asset as ``<base>/<asset key><extension>``, replacing it atomically.

    Reports are JSON, with their ``markdown`` and ``html`` entries written beside them as ``.md``
    and ``.html`` files. Every stored output also records what made it (see ``version_metadata``).
    """

    def __init__(self, base_path: Any, settings_hash: str = "", batch_store: Any = None) -> None:
        """Store under ``base_path``; ``settings_hash`` names the run's settings.

        ``batch_store`` holds the batch tables' rows: a table loaded as an input can read them.
        """
        super().__init__(base_path=base_path)
        self.settings_hash = settings_hash
        self.batch_store = batch_store

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Store the artifact, then add the versions of everything that made it to its metadata."""
        super().handle_output(context, obj)
        context.add_output_metadata(version_metadata(context, self.settings_hash))

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> Any:
        """Asset key path plus the extension of the asset's declared format."""
        path = super().get_asset_relative_path(context)
        return path.with_name(path.name + EXTENSIONS[storage_format(context)])

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: Any) -> None:
        """Serialise ``obj`` in its declared format through a temp file and a rename."""
        from ml_assets.lib.core.storage import atomic_write_bytes, atomic_write_text, dump_model

        fmt = storage_format(context)
        if fmt == UNDECLARED:
            write_dataframe(context, obj, path)
        elif fmt == "batch_table":
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

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        """Which process stored the output: under a distributed executor, the step's worker."""
        return step_process()

    def load_from_path(self, context: dg.InputContext, path: Any) -> Any:
        """Read an artifact back, refusing damaged or untrusted files with the path in the error."""
        from ml_assets.lib.core.storage import ArtifactLoadError, load_model_bytes

        fmt = storage_format(context)
        if not path.exists():
            key = context.asset_key.to_user_string()
            raise ArtifactLoadError(f"{path}: no stored artifact; materialize {key} first")
        if fmt == "batch_table":
            from ml_assets.lib.data.batch_records import BatchTable

            table = BatchTable.from_json(path.read_text(), self.batch_store)
            return table.read(input_columns(context)) if wants_frame(context) else table
        if fmt == "skops":
            return load_model_bytes(path.read_bytes(), str(path))
        if fmt == UNDECLARED:
            from ml_assets.lib.core.frames import read_frames

            return read_frames([path], input_columns(context))
        return json.loads(path.read_text())


def write_dataframe(context: dg.OutputContext, obj: Any, path: Any) -> None:
    """Store an undeclared asset's DataFrame as Parquet; refuse anything else by name."""
    import pandas as pd

    from ml_assets.lib.core.frames import write_frame

    if not isinstance(obj, pd.DataFrame):
        key = context.asset_key.to_user_string()
        raise TypeError(
            f"{key} returned a {type(obj).__name__}: an asset without a storage_format must "
            f"return a pandas DataFrame (stored as Parquet), or declare metadata "
            f"{{'{STORAGE_FORMAT}': 'report'}} for a JSON-able dict"
        )
    write_frame(path, obj)


def wants_frame(context: dg.InputContext) -> bool:
    """Whether the input is declared a pandas DataFrame: then a batch table arrives as its rows."""
    import pandas as pd

    try:
        typing_type = context.dagster_type.typing_type
    except dg.DagsterInvariantViolationError:  # a context built without its input's type
        return False
    return isinstance(typing_type, type) and issubclass(typing_type, pd.DataFrame)


def input_columns(context: dg.InputContext) -> list[str] | None:
    """The columns an input asks for in its metadata (``AssetIn(metadata={"columns": [...]})``)."""
    columns = (context.definition_metadata or {}).get("columns")
    return list(columns) if columns is not None else None


class ArtifactStorage(dg.ConfigurableIOManagerFactory):
    """Artifacts under ``<data_dir>/storage``: a local folder, or any fsspec URL for data_dir."""

    settings: PipelineSettings

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        """Build the IO manager rooted at the settings' storage folder."""
        from upath import UPath

        from ml_assets.lib.core.versioning import settings_hash

        values = self.settings.model_dump()
        return ArtifactIOManager(
            UPath(self.settings.storage_dir), settings_hash(values), batch_store(self.settings)
        )


def step_process() -> dict[str, Any]:
    """The process a step ran in: under a distributed executor, its worker's."""
    return {"step_pid": os.getpid(), "step_host": socket.gethostname()}


def version_metadata(context: dg.OutputContext, settings_hash: str) -> dict[str, Any]:
    """The code (git commit, clean or dirty), configuration, inputs and packages of an output.

    Git and package versions are read once per process; the input data versions are those this
    step consumed (or produced, for an asset of the same step).
    """
    return process_version_metadata(settings_hash, input_data_versions(context))


def process_version_metadata(settings_hash: str, inputs: dict[str, str]) -> dict[str, Any]:
    """The versioning metadata of an asset stored outside this IO manager (the registry's)."""
    from ml_assets.lib.core.versioning import process_versions

    versions = process_versions()
    git = versions["git"]
    return {
        "code_commit": git["commit"],
        "code_tree": git["tree"],
        "config_hash": active_config_hash(),
        "settings_hash": settings_hash,
        "input_data_versions": dg.MetadataValue.json(inputs),
        "package_versions": dg.MetadataValue.json(versions["packages"]),
    }


def input_data_versions(context: dg.OutputContext) -> dict[str, str]:
    """Each upstream asset's data version as this step saw it ("unknown" if never stored)."""
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:  # a context built outside a run: no inputs
        return {}
    if not context.has_asset_key:
        return {}
    layer = step.job_def.asset_layer
    known = step.input_asset_records or {}
    versions = {}
    for parent in sorted(layer.get(context.asset_key).parent_keys):
        if step.has_data_version(parent):
            version = step.get_data_version(parent).value
        elif known.get(parent) is not None and known[parent].data_version is not None:
            version = known[parent].data_version.value
        else:
            version = "unknown"
        versions[parent.to_user_string()] = version
    return versions


@functools.cache
def active_config_hash() -> str:
    """The hash of the active configuration file and its contract, read once per process."""
    from ml_assets.lib.project.project_config import load_project

    return load_project().config_hash
