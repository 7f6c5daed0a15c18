"""What a capability contributes to the application, declared in one object.

Each capability (catalog, profiles, counters, tasks, feedback, ...) ends its ``routes.py``
with a ``CAPABILITY``; app.py lists them once. The API takes every method and request hook,
the application every page route (the dashboard's), and the queue a Registry of every task
kind, end-of-task hook, tasks/status section and maintenance pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute

from tally.config import Settings
from tally.queue.execution import TaskKind
from tally.queue.registry import EndHook, MaintenancePass, Registry, StatusSection
from tally.wire.hooks import RequestHook
from tally.wire.methods import Method

#: Builds a capability's request hook for one app from its settings (None: not needed).
HookFactory = Callable[[Settings], RequestHook | None]


@dataclass(frozen=True)
class Capability:
    name: str
    methods: Sequence[Method] = ()
    task_kinds: Sequence[TaskKind] = ()
    #: Run in the transaction that ends any task (completed or error).
    end_hooks: Sequence[EndHook] = ()
    #: Add keys to tasks/status.
    status_sections: Sequence[StatusSection] = ()
    maintenance: Sequence[MaintenancePass] = ()
    #: Routes outside the API (web pages and their static files), mounted as they are.
    pages: Sequence[BaseRoute] = ()
    #: Run on every API call once its token is known (wire/hooks.py), one per app.
    request_hooks: Sequence[HookFactory] = ()


def methods_of(capabilities: Iterable[Capability]) -> list[Method]:
    return [method for capability in capabilities for method in capability.methods]


def pages_of(capabilities: Iterable[Capability]) -> list[BaseRoute]:
    return [route for capability in capabilities for route in capability.pages]


def request_hooks_of(capabilities: Iterable[Capability], settings: Settings) -> list[RequestHook]:
    built = (make(settings) for capability in capabilities for make in capability.request_hooks)
    return [hook for hook in built if hook is not None]


def registry_of(capabilities: Iterable[Capability]) -> Registry:
    """One Registry from every capability's declarations; a kind declared twice is a bug."""
    capabilities = list(capabilities)
    kinds: dict[str, TaskKind] = {}
    for capability in capabilities:
        for kind in capability.task_kinds:
            if kind.name in kinds:
                raise ValueError(f"task kind {kind.name!r} is declared twice ({capability.name})")
            kinds[kind.name] = kind
    return Registry(
        kinds=kinds,
        end_hooks=tuple(hook for capability in capabilities for hook in capability.end_hooks),
        status_sections=tuple(section for capability in capabilities for section in capability.status_sections),
        maintenance=tuple(step for capability in capabilities for step in capability.maintenance),
    )
