"""Pure: a sweep's trials, each the parameter values one experiment is submitted with."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

from ...wire.sweeps import DISTRIBUTION, SweepSpec


class PlanError(ValueError):
    """A distribution that cannot be drawn from; the message names it."""


def trials(spec: SweepSpec) -> list[dict[str, str]]:
    """Every trial's parameters: ``spec.params`` plus one grid combination (in the grid's
    order, the last parameter varying fastest) or one random draw (seeded by ``seed``)."""
    if spec.grid:
        names = list(spec.grid)
        return [{**spec.params, **dict(zip(names, combo, strict=True))}
                for combo in itertools.product(*(spec.grid[name] for name in names))]
    assert spec.random is not None
    rng = random.Random(spec.random.seed)
    draws = {name: _distribution(name, text) for name, text in spec.random.params.items()}
    return [{**spec.params, **{name: draw(rng) for name, draw in draws.items()}} for _ in range(spec.random.count)]


def _distribution(name: str, text: str) -> Callable[[random.Random], str]:
    """A function drawing one value of the distribution ``text`` (``PlanError`` if none can)."""
    match = DISTRIBUTION.match(text)
    assert match is not None  # the request model checked the form
    kind, arguments = match.group(1), [a.strip() for a in match.group(2).split(",") if a.strip()]
    if kind == "choice":
        if not arguments:
            raise PlanError(f"{name}: choice() needs at least one value")
        return lambda rng: rng.choice(arguments)
    try:
        low, high = (float(a) for a in arguments)
    except ValueError:
        raise PlanError(f"{name}: {kind} takes two numbers, got '{text}'") from None
    if not low <= high:
        raise PlanError(f"{name}: {kind}({low:g},{high:g}) needs the first number no larger than the second")
    if kind == "randint":
        if low != int(low) or high != int(high):
            raise PlanError(f"{name}: randint takes two whole numbers, got '{text}'")
        return lambda rng: str(rng.randint(int(low), int(high)))
    if kind == "loguniform":
        if low <= 0:
            raise PlanError(f"{name}: loguniform needs numbers above 0, got '{text}'")
        return lambda rng: _number(math.exp(rng.uniform(math.log(low), math.log(high))))
    return lambda rng: _number(rng.uniform(low, high))


def _number(value: float) -> str:
    return f"{value:.6g}"
