"""`Failsafe`: several policies around one call, the first outermost."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Iterable, Sequence, Tuple, TypeVar

from ._base import ResiliencePolicy
from ._errors import ConfigurationError

R = TypeVar("R")


class Failsafe(ResiliencePolicy):
    """Runs a call under several policies, the first one outermost.

    ``Failsafe(policies=(retry, breaker))`` retries around the breaker: every attempt passes the breaker, so a
    breaker that opens makes the remaining attempts fail fast with `ProtectedCallError`, which the retry
    policy passes through at once (unless a `handle` of its own accepts it). One policy instance may appear
    only once (nested `Failsafe`s included).
    """

    def __init__(self, policies: Iterable[ResiliencePolicy] = ()) -> None:
        self.policies: Sequence[ResiliencePolicy] = tuple(policies)
        seen: Dict[int, int] = {}
        index = 0

        def visit(items: Sequence[ResiliencePolicy]) -> None:
            nonlocal index
            for policy in items:
                if not isinstance(policy, ResiliencePolicy):
                    raise ConfigurationError(
                        f"policies[{index}]", f"expected a policy, got {type(policy).__name__}")
                if id(policy) in seen:
                    raise ConfigurationError(
                        f"policies[{index}]",
                        f"the same policy instance appears twice (first at {seen[id(policy)]}); create a second one")
                seen[id(policy)] = index
                index += 1
                if isinstance(policy, Failsafe):
                    visit(policy.policies)

        visit(self.policies)

    def _run(self, fn: Callable[..., R], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        call: Callable[[], Any] = lambda: fn(*args, **kwargs)  # noqa: E731
        for policy in reversed(self.policies):
            call = _bind(policy, call)
        return call()

    async def _run_async(self, fn: Callable[..., Awaitable[R]], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> R:
        call: Callable[[], Awaitable[Any]] = lambda: fn(*args, **kwargs)  # noqa: E731
        for policy in reversed(self.policies):
            call = _bind_async(policy, call)
        return await call()

    def __repr__(self) -> str:
        return f"Failsafe(policies={tuple(self.policies)!r})"


def _bind(policy: ResiliencePolicy, inner: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: policy._run(inner, (), {})


def _bind_async(policy: ResiliencePolicy, inner: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    return lambda: policy._run_async(inner, (), {})
