"""What every policy shares: decorating functions (plain or `async def`) and `execute`."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Dict, Tuple, TypeVar

from ._machine import FAILURE, IGNORED, SUCCESS

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


def handles_everything(error: Exception) -> bool:
    """The default `handle`: every exception counts as a failure."""
    return True


class ResiliencePolicy:
    """A policy that protects calls: `@policy` on a function or an `async def` function, `policy(fn)`,
    `policy.execute(fn, *args)`, or inside `Failsafe`.

    Decorating an `async def` function returns an `async def` wrapper; awaiting it never blocks the event
    loop. Subclasses implement `_run` (synchronous) and `_run_async` (coroutine).
    """

    def __call__(self, fn: F) -> F:
        """Decorates `fn`: each call of the result runs `fn` under this policy."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__} decorates a callable, got {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def protected_async(*args: Any, **kwargs: Any) -> Any:
                return await self._run_async(fn, args, kwargs)

            return protected_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def protected(*args: Any, **kwargs: Any) -> Any:
            return self._run(fn, args, kwargs)

        return protected  # type: ignore[return-value]

    def execute(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Runs `fn(*args, **kwargs)` under this policy and returns its result (for an `async def` function,
        an awaitable of it)."""
        if inspect.iscoroutinefunction(fn):
            return self._run_async(fn, args, kwargs)  # type: ignore[return-value]
        return self._run(fn, args, kwargs)

    async def execute_async(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Awaits `fn(*args, **kwargs)` under this policy (for callables that return an awaitable without being
        `async def` themselves)."""
        return await self._run_async(fn, args, kwargs)

    def _run(self, fn: Callable[..., R], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        raise NotImplementedError

    async def _run_async(self, fn: Callable[..., Awaitable[R]], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        raise NotImplementedError


def outcome_of(handle: Callable[[Exception], bool], error: BaseException) -> str:
    """The outcome an error counts as: a failure when `handle` accepts it, else a success; ``"ignored"`` for
    what is not an `Exception` (cancellation, `KeyboardInterrupt`, `SystemExit`: they say nothing about the
    dependency)."""
    if not isinstance(error, Exception):
        return IGNORED
    return FAILURE if handle(error) else SUCCESS
