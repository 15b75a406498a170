"""Models loaded once per process and shared by every pipeline that uses them unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

_LOADED: dict[Hashable, Any] = {}
_LOCK = threading.Lock()


def load_once(key: Hashable, load: Callable[[], Any]) -> Any:
    """The object loaded for `key` in this process, calling `load()` only the first time."""
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load()
        return _LOADED[key]


def release(which: Callable[[Hashable], bool]) -> int:
    """Forget the objects whose key `which` accepts (their memory goes once nothing else holds them); how many."""
    with _LOCK:
        keys = [key for key in _LOADED if which(key)]
        for key in keys:
            del _LOADED[key]
        return len(keys)
