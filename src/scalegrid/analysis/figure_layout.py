"""Which swept key goes where in a grid's figures: x axis, one line per value, one panel per value.

Pure functions over the swept keys and their values, so the report draws any grid: a numeric key on x (a log axis
for sizes), a categorical grid as grouped bars. An experiment can name its choice (``runtime.report.x`` / ``lines`` /
``panels``), and ``src/report.py --x ... --lines ... --panels ...`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass

SIZE_KEYS = ("data.fraction",)  # swept keys whose axis is the training-set size (drawn as training images)
LINE_PREFERENCE = ("model", "arm", "finetune", "optim")  # what a line stands for when nothing is named
PANEL_PREFERENCE = ("model.weights", "init", "arm", "finetune")


@dataclass(frozen=True)
class FigureLayout:
    x: str | None  # a numeric key (or a categorical one, drawn as groups of bars); None: one group
    lines: str | None  # one line (or bar) per value of this key
    panels: str | None  # one panel per value of this key
    numeric_x: bool
    log_x: bool

    @property
    def placed(self) -> set[str]:
        return {key for key in (self.x, self.lines, self.panels) if key}


def is_numeric(values: list[str]) -> bool:
    try:
        [float(value) for value in values]
    except (TypeError, ValueError):
        return False
    return len(values) > 0


def choose_layout(values: dict[str, list[str]], requested: dict[str, str | None] | None = None) -> FigureLayout:
    """A layout for swept keys with their distinct values (seed left out); ``requested`` names any of x/lines/panels."""
    requested = {k: v for k, v in (requested or {}).items() if v}
    unknown = [f"{role}={key}" for role, key in requested.items() if key not in values]
    if unknown:
        from scalegrid.errors import ScalegridError

        raise ScalegridError(
            f"report figure: {', '.join(unknown)} is not a swept key of this grid; swept: {', '.join(values) or 'none'}"
        )
    free = [key for key in values if key not in requested.values()]
    x = requested.get("x")
    if x is None:
        numeric = [key for key in free if key in SIZE_KEYS] + [key for key in free if is_numeric(values[key])]
        x = numeric[0] if numeric else (free[0] if free else None)
    free = [key for key in free if key != x]

    def pick(role: str, preference: tuple[str, ...]) -> str | None:
        if role in requested:
            return requested[role]
        ordered = [key for key in preference if key in free] + free
        return ordered[0] if ordered else None

    lines = pick("lines", LINE_PREFERENCE)
    free = [key for key in free if key != lines]
    panels = pick("panels", PANEL_PREFERENCE)
    numeric_x = x is not None and is_numeric(values[x])
    numbers = [float(value) for value in values[x]] if numeric_x else []
    spread = bool(numbers) and min(numbers) > 0 and max(numbers) >= 8 * min(numbers)  # a factor of 8: log axis
    return FigureLayout(x, lines, panels, numeric_x, numeric_x and (x in SIZE_KEYS or spread))
