"""The plugin manager: finds `judge` entry points, loads them on first use, keeps the registry."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from judge import hookspecs
from judge.errors import PluginError

ENTRY_POINT_GROUP = "judge"
PLUGINS_ENV = "JUDGE_PLUGINS"


@dataclass
class Registered:
    """One thing a plugin registered, and which plugin it came from."""

    name: str
    value: Any
    plugin: str
    description: str = ""


@dataclass
class PluginInfo:
    name: str
    module: str
    distribution: str | None
    version: str | None
    location: str | None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)


KINDS = ("backends", "format_packs", "parsers", "aggregators", "tools", "verifiers", "rubric_generators")


class Registry:
    """Everything installed plugins registered, by kind and name. Built lazily, once."""

    def __init__(self, allowed: set[str] | None = None) -> None:
        self._allowed = allowed if allowed is not None else _allowed_from_env()
        self._lock = threading.Lock()
        self._loaded = False
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._items: dict[str, dict[str, Registered]] = {kind: {} for kind in KINDS}

    def load(self) -> Registry:
        with self._lock:
            if not self._loaded:
                self._load_entry_points()
                self._collect()
                self._loaded = True
        return self

    def register_module(self, module: Any, name: str) -> None:
        """Register an in-process plugin module or object (tests, embedding applications)."""
        self.load()
        with self._lock:
            self.manager.register(module, name=name)
            self.plugins.append(PluginInfo(name, getattr(module, "__name__", name), None, None, None))
            self._collect_from(name)

    def get(self, kind: str, name: str) -> Any:
        self.load()
        found = self._items[kind].get(name)
        if found is None:
            known = ", ".join(sorted(self._items[kind])) or "none installed"
            raise PluginError(f"no {kind[:-1].replace('_', ' ')} named '{name}' (known: {known})")
        return found.value

    def names(self, kind: str) -> list[str]:
        self.load()
        return sorted(self._items[kind])

    def entries(self, kind: str) -> list[Registered]:
        self.load()
        return [self._items[kind][n] for n in sorted(self._items[kind])]

    def default_backend(self) -> tuple[str, dict[str, Any]]:
        self.load()
        answer = self.manager.hook.default_backend()
        if answer is None:
            raise PluginError("no plugin names a default backend; pass --backend")
        return answer

    def _load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self._allowed is not None and ep.name not in self._allowed:
                continue
            if self.manager.has_plugin(ep.name):
                continue
            dist = ep.dist
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                location=None,
            )
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the CLI down with it
                info.error = f"{type(exc).__name__}: {exc}"
                self.plugins.append(info)
                continue
            info.location = getattr(module, "__file__", None)
            try:
                self.manager.register(module, name=ep.name)
            except Exception as exc:  # e.g. a hook implementation with the wrong argument names
                info.error = f"{type(exc).__name__}: {exc}"
            self.plugins.append(info)

    def _collect(self) -> None:
        for info in self.plugins:
            if info.error is None:
                try:
                    self._collect_from(info.name)
                except PluginError:
                    raise
                except Exception as exc:  # a plugin's register hook that fails is that plugin's problem
                    info.error = f"{type(exc).__name__} in its hooks: {exc}"

    def _collect_from(self, plugin_name: str) -> None:
        plugin = self.manager.get_plugin(plugin_name)
        info = next(p for p in self.plugins if p.name == plugin_name)
        for kind in KINDS:
            impl = getattr(plugin, f"register_{kind}", None)
            if impl is None:
                continue
            impl(register=self._registrar(kind, info))

    def _registrar(self, kind: str, info: PluginInfo) -> Callable[..., None]:
        def register(name_or_value: Any, value: Any = None, description: str = "") -> None:
            if value is None:  # format packs register themselves: register(pack)
                value, name = name_or_value, name_or_value.name
                description = description or getattr(value, "description", "")
            else:
                name = name_or_value
            existing = self._items[kind].get(name)
            if existing is not None and existing.plugin != info.name:
                raise PluginError(
                    f"plugin '{info.name}' registers {kind[:-1]} '{name}', "
                    f"already registered by plugin '{existing.plugin}'"
                )
            self._items[kind][name] = Registered(name, value, info.name, description)
            info.registered.setdefault(kind, []).append(name)

        return register


def _allowed_from_env() -> set[str] | None:
    """JUDGE_PLUGINS=a,b loads only those entry points (tests, or to skip a slow plugin)."""
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use; embedders may build their own `Registry`."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
