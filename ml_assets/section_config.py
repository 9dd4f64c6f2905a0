"""Launchpad config classes made from the configuration's sections: one override rule for all.

The YAML section sets each threshold's default; the launchpad (or ``--config-json``) overrides
it for one run. A section's fields become the config class's fields, with the loaded values as
defaults and the section's descriptions and bounds, so nothing is declared twice.
"""

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import dagster as dg
from pydantic import BaseModel, Field, create_model


class SectionConfig(dg.Config):
    """A run's config made from a section; ``section()`` gives its values as the section."""

    section_type: ClassVar[type[BaseModel]]

    def section(self) -> Any:
        """The run's values, validated by the section (its cross-field rules included)."""
        fields = set(self.section_type.model_fields)
        return self.section_type.model_validate(self.model_dump(include=fields))


def section_config(
    section: BaseModel,
    name: str,
    base: type[dg.Config] | type[dg.ConfigurableResource] = SectionConfig,
    exclude: frozenset[str] = frozenset(),
    overrides: Mapping[str, tuple[Any, Any]] = {},
) -> Any:
    """A config class (or resource, by ``base``) whose fields are ``section``'s, defaulting to it.

    A nested section (a threshold's warn and error) becomes a nested config, so the launchpad
    shows and overrides each of its values on its own. ``overrides`` gives a field the launchpad
    cannot show as the YAML types it, or one the section lacks (an annotation and a ``Field``;
    ``a.b`` in a nested one).
    """
    fields: dict[str, Any] = {}
    for field_name, info in type(section).model_fields.items():
        if field_name in exclude:
            continue
        if field_name in overrides:
            fields[field_name] = overrides[field_name]
            continue
        value, annotation = getattr(section, field_name), info.annotation
        if isinstance(value, BaseModel):
            inner = {
                key.partition(".")[2]: given
                for key, given in overrides.items()
                if key.startswith(f"{field_name}.")
            }
            annotation = section_config(value, f"{name}_{field_name}", overrides=inner)
            value = annotation()
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[field_name] = (annotation, Field(default=value, description=info.description))
    added = {key: given for key, given in overrides.items() if "." not in key}
    fields |= {key: given for key, given in added.items() if key not in fields}
    config = create_model(name, __base__=base, **fields)
    config.__doc__ = type(section).__doc__ if base is SectionConfig else base.__doc__
    if issubclass(config, SectionConfig):
        config.section_type = type(section)
    return config
