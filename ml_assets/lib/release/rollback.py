"""Rollback to a named or the previous champion, and its opposite: promoting the challenger.

"The previous version" follows the champion's history as a stack: a promotion pushes, a rollback
pops back to its target. So rolling back twice from v3 (after v1, v2, v3 were promoted) reaches
v2 and then v1, never v3 again: a version rolled away from is not "previous".
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_assets.lib.release.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    RegistryError,
    default_actor,
)

ROLLBACK = "rollback"
PROMOTE = "promote"  # as ml_assets.lib.release.deployment names a promotion (it imports pandas)
REJECT = "reject"  # a challenger dropped without promotion


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback changed."""

    previous: str
    current: str
    reason: str
    actor: str

    def message(self) -> str:
        """One line for the CLI and the run's log."""
        return f"champion: {self.previous} -> {self.current} ({self.reason}; by {self.actor})"


def champion_lineage(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The champions still stacked, oldest first: each rollback drops what it rolled away from."""
    stack: list[str] = []
    for change in history:
        if change["alias"] != CHAMPION:
            continue
        target = change["version"]
        if change["action"] == ROLLBACK and target in stack:
            del stack[stack.index(target) + 1 :]
        elif target is None:
            stack.clear()
        elif not stack or stack[-1] != target:
            stack.append(target)
    return stack


def previous_champion(history: Sequence[Mapping[str, Any]]) -> str | None:
    """The version a bare rollback returns to, or None when there is none."""
    lineage = champion_lineage(history)
    return lineage[-2] if len(lineage) >= 2 else None


def rollback(
    registry: ModelRegistry, to: str | None = None, *, reason: str, actor: str
) -> RollbackResult:
    """Point the champion at ``to`` (or the previous champion) and record who, why and when.

    Refused, with the alias untouched, when there is no champion, nothing to go back to, the
    target is already the champion, or its model file is missing or changed.
    """
    current = registry.alias(CHAMPION)
    if current is None:
        raise RegistryError(f"no champion in the registry at {registry.root}: nothing to roll back")
    target = to or previous_champion(registry.history())
    if target is None:
        raise RegistryError(
            f"champion {current} has no previous version to roll back to; name one with --to "
            f"(registered: {', '.join(v.version for v in registry.versions())})"
        )
    if target == current:
        raise RegistryError(f"{target} is already the champion")
    registry.set_alias(
        CHAMPION, target, reason=reason, actor=actor, action=ROLLBACK, expected=current
    )
    return RollbackResult(current, target, reason, actor)


def promote_challenger(
    registry: ModelRegistry, version: str | None = None, *, reason: str, actor: str
) -> RollbackResult:
    """Point the champion at ``version`` (or the challenger) and drop the challenger alias.

    Refused, with both aliases untouched, when there is no challenger to promote, the version is
    not registered or already the champion, or its model file is missing or changed. The change
    is a promotion in the history, so a later bare rollback returns to the champion it replaced.
    """
    challenger = registry.alias(CHALLENGER)
    target = version or challenger
    if target is None:
        raise RegistryError(
            f"no challenger in the registry at {registry.root}: name a version to promote "
            f"(registered: {', '.join(v.version for v in registry.versions()) or 'none'})"
        )
    registry.get(target)
    current = registry.alias(CHAMPION)
    if target == current:
        raise RegistryError(f"{target} is already the champion")
    registry.set_alias(
        CHAMPION, target, reason=reason, actor=actor, action=PROMOTE, expected=current
    )
    if challenger == target:
        registry.remove_alias(CHALLENGER, reason=f"{target} promoted to champion", actor=actor)
    return RollbackResult(current or "none", target, reason, actor)


def reject_challenger(registry: ModelRegistry, *, reason: str, actor: str) -> str:
    """Drop the challenger alias and return its version, which stays registered.

    Ends a canary the A/B test did not win: the champion serves alone again and the next
    candidate may become challenger. Refused when there is no challenger, or when it changed
    between reading and dropping it (AliasConflict).
    """
    challenger = registry.alias(CHALLENGER)
    if challenger is None:
        raise RegistryError(f"no challenger in the registry at {registry.root}: nothing to reject")
    registry.remove_alias(
        CHALLENGER, reason=reason, actor=actor, action=REJECT, expected=challenger
    )
    return challenger


def registry_for_project(registry_dir: str | None = None) -> ModelRegistry:
    """The active project's registry: ``registry_dir``, ``$ML_ASSETS_REGISTRY_DIR``, or the default.

    The default is the layout's of ``$ML_ASSETS_CONFIG``'s project (the demo's when unset), as
    the Dagster resource places it.
    """
    from ml_assets.lib.project.project_config import load_project

    layout = load_project().layout().with_registry(registry_dir)
    return ModelRegistry(layout.registry)


def rollback_command(to: str | None, reason: str, registry_dir: str | None = None) -> str:
    """``ml-assets rollback``: the change made, or a RegistryError saying why there was none."""
    return _champion_command(rollback, to, reason, registry_dir)


def promote_command(version: str | None, reason: str, registry_dir: str | None = None) -> str:
    """``ml-assets promote``: the change made, or a RegistryError saying why there was none."""
    return _champion_command(promote_challenger, version, reason, registry_dir)


def _champion_command(
    change: Callable[..., RollbackResult],
    version: str | None,
    reason: str,
    registry_dir: str | None,
) -> str:
    """Move the champion with ``change``; an unknown version reads as a RegistryError."""
    registry = registry_for_project(registry_dir)
    try:
        result = change(registry, version, reason=reason, actor=default_actor())
    except KeyError as error:
        raise RegistryError(str(error).strip("'\"")) from None
    return f"{result.message()}\nregistry: {registry.root}"


def reject_command(reason: str, registry_dir: str | None = None) -> str:
    """``ml-assets reject``: the challenger dropped, or a RegistryError saying why not."""
    registry = registry_for_project(registry_dir)
    version = reject_challenger(registry, reason=reason, actor=default_actor())
    champion = registry.alias(CHAMPION) or "none"
    return (
        f"challenger {version} dropped ({reason}); champion {champion} serves alone\n"
        f"registry: {registry.root}"
    )
