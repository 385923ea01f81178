"""The plugin manager: finds `judge` entry points, loads them on first use, keeps the registry.

One bad plugin must not take down every command. A plugin that fails to import (even by calling
`sys.exit`), or whose register hook raises, is reported as FAILED TO LOAD and left out; a
`default_backend` hook that raises is recorded against its plugin and the next answer is used.

Names: first-party plugins (the entry points of the `judge` distribution itself) are loaded
first, then the others in the order they are found. When a later plugin registers a name that
an earlier one holds (say a backend `fake`), the bare name stays with the earlier plugin and the
later one's is refused; `judge plugins` shows it. Either is reachable by its qualified name
`PLUGIN:NAME`, accepted wherever a name is (`--backend rival:fake`, `--format-pack rival:default`,
`--aggregator`, a format pack's parsers, `Judge(backend="rival:fake")`): that is how a user
chooses between them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from judge import hookspecs
from judge.errors import PluginError

ENTRY_POINT_GROUP = "judge"
PLUGINS_ENV = "JUDGE_PLUGINS"
FIRST_PARTY = "judge"  # the distribution whose entry points always come first
SEPARATOR = ":"  # PLUGIN:NAME
PLUGIN_FAILURES = (Exception, SystemExit)  # SystemExit is no Exception; Ctrl-C still stops the command


@dataclass
class Registered:
    """One thing a plugin registered, and which plugin it came from."""

    name: str
    value: Any
    plugin: str
    description: str = ""


@dataclass
class PluginInfo:
    """One plugin as `judge plugins` shows it: where it comes from and what it holds."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    location: str | None
    error: str | None = None  # it failed to load, and nothing of it is used
    registered: dict[str, list[str]] = field(default_factory=dict)  # names it holds
    refused: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> the earlier plugin that holds it
    problems: list[str] = field(default_factory=list)  # trouble that does not stop it, e.g. a failing hook
    first_party: bool = False


KINDS = (
    "backends", "format_packs", "parsers", "aggregators", "strategies", "tools", "verifiers", "rubric_generators", "commands",
)


class Registry:
    """Everything installed plugins registered, by kind and name. Built lazily, once."""

    def __init__(self, allowed: set[str] | None = None) -> None:
        self._allowed = allowed if allowed is not None else _allowed_from_env()
        self._lock = threading.RLock()
        self._loaded = False
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._active: dict[str, PluginInfo] = {}  # plugins by name, those that loaded
        self._items: dict[str, dict[str, Registered]] = {kind: {} for kind in KINDS}  # bare name -> holder
        self._qualified: dict[str, dict[tuple[str, str], Registered]] = {kind: {} for kind in KINDS}
        self._warned: set[str] = set()
        self.default_from: str | None = None  # the plugin whose default_backend answer was used

    def load(self) -> Registry:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                for info, module in self._load_entry_points():
                    self._activate(info, module)
        return self

    def register_module(self, module: Any, name: str) -> None:
        """Register an in-process plugin module or object (tests, embedding applications).

        Unlike an installed plugin, a conflict here is the caller's own code: it raises
        PluginError and registers nothing.
        """
        self.load()
        with self._lock:
            if name in self._active:
                raise PluginError(f"a plugin named '{name}' is already registered")
            info = PluginInfo(name, getattr(module, "__name__", name), None, None, None)
            self.plugins.append(info)
            self._activate(info, module)
            if info.error is None and info.refused:
                taken = [f"{_singular(k)} '{n}' is already registered by plugin '{holder}'"
                         for k, names in info.refused.items() for n, holder in names.items()]
                self._withdraw(info)
                info.error = "; ".join(taken)
            if info.error is not None:
                self.plugins.remove(info)
                raise PluginError(f"plugin '{name}': {info.error}")

    def get(self, kind: str, name: str) -> Any:
        """The value registered as `name`, or as `PLUGIN:NAME` by that plugin in particular."""
        self.load()
        plugin, sep, bare = name.partition(SEPARATOR)
        if sep:
            return self._get_qualified(kind, plugin, bare)
        found = self._items[kind].get(name)
        if found is None:
            raise PluginError(f"no {_singular(kind)} named '{name}' (known: {self._known(kind)}){self._failed_hint()}")
        others = [p for (p, n) in self._qualified[kind] if n == name and p != found.plugin]
        if others:
            self._warn_once(
                f"{kind}:{name}",
                f"{_singular(kind)} '{name}' is registered by plugin '{found.plugin}' and also by "
                f"{', '.join(repr(p) for p in others)}; using the one from plugin '{found.plugin}' "
                f"({' or '.join(f'{p}{SEPARATOR}{name}' for p in others)} names the other)",
            )
        return found.value

    def names(self, kind: str) -> list[str]:
        self.load()
        return sorted(self._items[kind])

    def entries(self, kind: str) -> list[Registered]:
        self.load()
        return [self._items[kind][n] for n in sorted(self._items[kind])]

    def default_backend(self, *, quiet: bool = False) -> tuple[str, dict[str, Any]]:
        """The first answer of the `default_backend` hooks (pluggy's order: the last loaded first).

        A hook that raises or answers nonsense is recorded against its plugin and skipped.
        """
        self.load()
        failed: list[str] = []
        for impl in reversed(self.manager.hook.default_backend.get_hookimpls()):
            try:
                answer = impl.function()
                if answer is None:
                    continue
                name, options = answer
                if not isinstance(name, str) or not isinstance(options, dict):
                    raise TypeError(f"it answered {answer!r}, not (name, options)")
            except PLUGIN_FAILURES as exc:
                problem = f"its default_backend hook failed: {_describe(exc)}"
                info = self._active.get(impl.plugin_name)
                if info is not None and problem not in info.problems:
                    info.problems.append(problem)
                failed.append(f"plugin '{impl.plugin_name}': {problem}")
                continue
            if failed and not quiet:
                for line in failed:
                    self._warn_once(line, f"{line}; using the next answer, '{name}' from plugin '{impl.plugin_name}'")
            self.default_from = impl.plugin_name
            return name, dict(options)
        why = f" ({'; '.join(failed)})" if failed else ""
        raise PluginError(f"no plugin names a default backend{why}; pass --backend")

    def _load_entry_points(self) -> list[tuple[PluginInfo, Any]]:
        """Import every allowed entry point, first-party first; a failure is that plugin's, not ours."""
        found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        found.sort(key=lambda ep: not _is_first_party(ep))  # stable: otherwise in the order found
        loaded: list[tuple[PluginInfo, Any]] = []
        for ep in found:
            if self._allowed is not None and ep.name not in self._allowed:
                continue
            dist = ep.dist
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                location=None,
                first_party=_is_first_party(ep),
            )
            self.plugins.append(info)
            holder = next((p for p in self.plugins if p.name == ep.name and p is not info), None)
            if holder is not None:
                origin = f" from distribution '{holder.distribution}'" if holder.distribution else ""
                info.error = f"the plugin name '{ep.name}' is already taken by the plugin{origin}; this one is not loaded"
                continue
            try:
                module = ep.load()
            except PLUGIN_FAILURES as exc:  # a broken plugin must not take the CLI down with it
                info.error = f"{_describe(exc)} (while importing {ep.value})"
                continue
            info.location = getattr(module, "__file__", None)
            loaded.append((info, module))
        return loaded

    def _activate(self, info: PluginInfo, module: Any) -> None:
        """Register one plugin's hooks with pluggy and collect its names; roll it back if it fails."""
        try:
            self.manager.register(module, name=info.name)
        except PLUGIN_FAILURES as exc:  # e.g. a hook implementation with the wrong argument names
            info.error = _describe(exc)
            return
        self._active[info.name] = info
        for kind in KINDS:
            impl = getattr(module, f"register_{kind}", None)
            if impl is None:
                continue
            try:
                impl(register=self._registrar(kind, info))
            except PLUGIN_FAILURES as exc:  # a plugin's register hook that fails is that plugin's problem
                self._withdraw(info)
                info.error = f"{_describe(exc)} (in its register_{kind} hook)"
                return

    def _withdraw(self, info: PluginInfo) -> None:
        """Take back everything a plugin registered, so a half-loaded plugin is not half used."""
        for kind in KINDS:
            for key in [k for k in self._qualified[kind] if k[0] == info.name]:
                del self._qualified[kind][key]
            for name in [n for n, r in self._items[kind].items() if r.plugin == info.name]:
                del self._items[kind][name]
        info.registered, info.refused = {}, {}
        self._active.pop(info.name, None)
        if self.manager.get_plugin(info.name) is not None:
            self.manager.unregister(name=info.name)

    def _registrar(self, kind: str, info: PluginInfo) -> Callable[..., None]:
        def register(name_or_value: Any, value: Any = None, description: str = "") -> None:
            if value is None:  # format packs register themselves: register(pack)
                value, name = name_or_value, name_or_value.name
                description = description or getattr(value, "description", "")
            else:
                name = name_or_value
            if not isinstance(name, str) or not name or SEPARATOR in name:
                raise PluginError(f"{_singular(kind)} name {name!r} must be a non-empty string without '{SEPARATOR}'")
            entry = Registered(name, value, info.name, description)
            self._qualified[kind][(info.name, name)] = entry
            holder = self._items[kind].get(name)
            if holder is not None and holder.plugin != info.name:
                info.refused.setdefault(kind, {})[name] = holder.plugin
                return
            self._items[kind][name] = entry
            if name not in info.registered.get(kind, []):
                info.registered.setdefault(kind, []).append(name)

        return register

    def _get_qualified(self, kind: str, plugin: str, name: str) -> Any:
        found = self._qualified[kind].get((plugin, name))
        if found is not None:
            return found.value
        info = self._active.get(plugin)
        if info is None:
            failed = next((p for p in self.plugins if p.name == plugin and p.error), None)
            if failed is not None:
                raise PluginError(f"plugin '{plugin}' failed to load: {failed.error}; see `judge plugins`")
            installed = ", ".join(sorted(self._active)) or "none"
            raise PluginError(f"no plugin named '{plugin}' (installed: {installed}); see `judge plugins`")
        own = sorted(n for (p, n) in self._qualified[kind] if p == plugin)
        raise PluginError(
            f"plugin '{plugin}' registers no {_singular(kind)} named '{name}' "
            f"(its {kind.replace('_', ' ')}: {', '.join(own) or 'none'})"
        )

    def _known(self, kind: str) -> str:
        bare = sorted(self._items[kind])
        refused = sorted(
            f"{p}{SEPARATOR}{n}" for (p, n) in self._qualified[kind] if getattr(self._items[kind].get(n), "plugin", p) != p
        )
        return ", ".join(bare + refused) or "none installed"

    def _failed_hint(self) -> str:
        failed = [p.name for p in self.plugins if p.error]
        return f"; plugins that failed to load: {', '.join(failed)} (see `judge plugins`)" if failed else ""

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print(f"judge: warning: {message}", file=sys.stderr, flush=True)


def _is_first_party(ep: metadata.EntryPoint) -> bool:
    dist = ep.dist
    name = dist.metadata["Name"] if dist else None
    return bool(name) and re.sub(r"[-_.]+", "-", name).lower() == FIRST_PARTY


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _singular(kind: str) -> str:
    word = kind[:-3] + "y" if kind.endswith("ies") else kind[:-1]
    return word.replace("_", " ")


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
