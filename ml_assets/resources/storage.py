"""Where artifacts are stored, and in which format each asset declares its own.

The IO manager itself (``io_manager.py``) is imported when a run first needs it, so loading the
code location does not import universal-pathlib and fsspec.
"""

import dagster as dg

STORAGE_FORMAT = "storage_format"
EXTENSIONS = {"parquet": ".parquet", "table": ".parquet", "skops": ".skops", "report": ".json"}


def storage_format(context: dg.InputContext | dg.OutputContext) -> str:
    """The format the producing asset declared (Parquet unless it said otherwise)."""
    output = context.upstream_output if isinstance(context, dg.InputContext) else context
    metadata = (output.definition_metadata if output is not None else None) or {}
    fmt = metadata.get(STORAGE_FORMAT, "parquet")
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown storage_format {fmt!r}; expected one of {sorted(EXTENSIONS)}")
    return fmt


class ArtifactStorage(dg.ConfigurableIOManagerFactory):
    """Where artifacts live: a local folder by default, any fsspec URL (s3://, gs://) by config."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        """Build the IO manager rooted at ``base_dir``."""
        from upath import UPath

        from ml_assets.resources.io_manager import ArtifactIOManager

        return ArtifactIOManager(base_path=UPath(self.base_dir))
