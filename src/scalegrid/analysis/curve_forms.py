"""The learning-curve laws scalegrid fits, and one least-squares fit of many curves at once.

A *form* maps a parameter vector to the error it predicts at each training-set size n, with the analytic Jacobian;
every form is fitted by ``scipy.optimize.least_squares`` (bounded trust-region reflective) on the **log** of the error
(Alabdulmohsin et al. 2022 and Hoffmann et al. 2022 fit there: a seed's noise on a small error counts as much as on a
large one, and the extrapolation is scored there). The forms, after the estimators of Alabdulmohsin, Neyshabur &
Zhai (NeurIPS 2022, "Revisiting Neural Scaling Laws in Language and Vision"):

- ``M1``: ε = a·n^-b.
- ``M2``: ε = c + a·n^-b (Hestness et al. 2017; c, the floor, in [0, the smallest error seen]).
- ``M3``: ε = a·(1/n + γ)^b with b >= 0 (its floor a·γ^b).
- ``M4``: (ε − c)/(ε0 − ε)^α = a·n^-b, where ε0 is the error of a guess (1 − 1/classes; learned above the
  largest error seen when not known) and α >= 0 bends the curve's start toward ε0 (α = 0 is M2).

``fit_many`` fits R curves (rows of errors over the same sizes) in one ``least_squares`` call: their Jacobian is
block-diagonal, handed to the solver as a sparse matrix, so a thousand bootstrap refits cost about one fit of a
thousand times the points. The parameters of a form are natural (no hidden transforms) and held by bounds;
:func:`at_bound` says which ended on one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

ERROR_FLOOR = 1e-6  # a perfect run's error, for the log
BOUND_TOLERANCE = 1e-3  # a parameter within this share of its range from a bound sits at that bound
NEWTON_STEPS = 40  # M4's error at n is the root of an increasing function: at most this many Newton steps to it


@dataclass(frozen=True)
class Form:
    """One learning-curve law: its name, formula, parameter names (natural parameters, in this order)."""

    name: str
    formula: str
    parameters: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.parameters)


M1 = Form("M1", "a·n^-b", ("log_a", "b"))
M2 = Form("M2", "c + a·n^-b", ("c", "log_a", "b"))
M3 = Form("M3", "a·(1/n + γ)^b", ("log_a", "log_gamma", "b"))
M4 = Form("M4", "(ε − c)/(ε0 − ε)^α = a·n^-b", ("c", "alpha", "log_a", "b", "e0"))
FORMS = {form.name: form for form in (M1, M2, M3, M4)}
MAX_EXPONENT = 10.0


def _m4_excess(log_n: np.ndarray, theta: np.ndarray, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """w = ε − c at each n for M4 rows ``theta`` (R x 5), and its logit u: the root of log w − α·log(B − w) =
    log a − b·log n on (0, B), B = ε0 − c. In u = logit(w / B) the left side, −softplus(−u) + α·softplus(u) +
    (1 − α)·log B, increases with slope σ(−u) + α·σ(u) > 0: Newton's method (vectorised, steps held to ±8) from
    ``start`` (an earlier root, as a solver's next point is near its last) or else from the asymptotes."""
    c, alpha, log_a, b, e0 = (theta[:, i : i + 1] for i in range(5))
    span = np.maximum(e0 - c, ERROR_FLOOR)
    target = log_a - b * log_n - (1 - alpha) * np.log(span)
    u = np.where(target < 0, target, target / np.maximum(alpha, 1e-3)) if start is None else start
    for _ in range(NEWTON_STEPS):
        softplus = np.logaddexp(0, u)
        share = _sigmoid(u)
        value = u - softplus + alpha * softplus - target  # -softplus(-u) = u - softplus(u)
        step = np.clip(value / np.maximum(1 - share + alpha * share, 1e-12), -8.0, 8.0)
        u = u - step
        # converged, or w has reached B within double precision (α ≈ 0 and a·n^-b > B: no root below B)
        if not np.any((np.abs(step) > 1e-11) & (u < 36.0)):
            break
    return _sigmoid(u) * span, u


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def predict(form: Form, theta: np.ndarray, n) -> np.ndarray:
    """The error each parameter row of ``theta`` (R x P, or P) predicts at each size of ``n``: R x len(n)."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    log_n = np.log(np.atleast_1d(np.asarray(n, dtype=float)))[None, :]
    if form is M1:
        return np.exp(theta[:, 0:1] - theta[:, 1:2] * log_n)
    if form is M2:
        return theta[:, 0:1] + np.exp(theta[:, 1:2] - theta[:, 2:3] * log_n)
    if form is M3:
        return np.exp(theta[:, 0:1] + theta[:, 2:3] * np.log(np.exp(-log_n) + np.exp(theta[:, 1:2])))
    return theta[:, 0:1] + _m4_excess(log_n, theta)[0]


def prediction_and_gradient(
    form: Form, theta: np.ndarray, log_n: np.ndarray, root: np.ndarray | None = None, excess: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Prediction (R x N) and its derivative by each parameter (R x N x P); for M4, ``root``: its logit root near
    these parameters, to start from, or ``excess``: w already solved at exactly these parameters."""
    if form is M1:
        value = np.exp(theta[:, 0:1] - theta[:, 1:2] * log_n)
        return value, np.stack([value, -value * log_n], axis=2)
    if form is M2:
        term = np.exp(theta[:, 1:2] - theta[:, 2:3] * log_n)
        return theta[:, 0:1] + term, np.stack([np.ones_like(term), term, -term * log_n], axis=2)
    if form is M3:
        inner = np.exp(-log_n) + np.exp(theta[:, 1:2])
        value = np.exp(theta[:, 0:1] + theta[:, 2:3] * np.log(inner))
        d_gamma = value * theta[:, 2:3] * np.exp(theta[:, 1:2]) / inner
        return value, np.stack([value, d_gamma, value * np.log(inner)], axis=2)
    w = _m4_excess(log_n, theta, root)[0] if excess is None else excess
    alpha = theta[:, 1:2]
    rest = np.maximum(theta[:, 4:5] - theta[:, 0:1] - w, 1e-300)
    slope = 1.0 / np.maximum(w, 1e-300) + alpha / rest  # d/dw of log w − α·log(B − w)
    partial = np.stack(  # d/dθ of that function minus (log a − b·log n), at fixed w
        [alpha / rest, -np.log(rest), -np.ones_like(w), log_n * np.ones_like(w), -alpha / rest], axis=2
    )
    gradient = -partial / slope[:, :, None]
    gradient[:, :, 0] += 1.0  # ε = c + w
    return theta[:, 0:1] + w, gradient


@dataclass
class Bounds:
    """Per-row bounds (R x P) of a form's parameters."""

    lower: np.ndarray
    upper: np.ndarray


def bounds_for(form: Form, errors: np.ndarray, guess_error: float | None, ceiling: float | None = None) -> Bounds:
    """Bounds for rows of ``errors`` (R x N): the floor c in [0, the row's smallest error], exponents in
    [0, MAX_EXPONENT], M4's α in [0, 10] and ε0 fixed at ``guess_error``, or, unknown, between the largest error and
    ``ceiling`` (1 for an error rate; None: no bound, as for a loss)."""
    rows = errors.shape[0]
    smallest, largest = errors.min(axis=1), errors.max(axis=1)
    inf = np.full(rows, np.inf)
    zero = np.zeros(rows)
    if form is M1:
        columns = [(-inf, inf), (zero, zero + MAX_EXPONENT)]
    elif form is M2:
        columns = [(zero, smallest * (1 - 1e-9)), (-inf, inf), (zero, zero + MAX_EXPONENT)]
    elif form is M3:
        columns = [(-inf, inf), (zero - 200, zero + 50), (zero, zero + MAX_EXPONENT)]
    else:
        if guess_error is not None:
            e0 = np.maximum(guess_error, largest * (1 + 1e-6) + ERROR_FLOOR)
            e0_bounds = (e0 * (1 - 1e-12), e0 * (1 + 1e-12))
        else:
            above = largest * (1 + 1e-6) + ERROR_FLOOR
            e0_bounds = (above, inf if ceiling is None else np.maximum(ceiling, above * (1 + 1e-6)))
        columns = [
            (zero, smallest * (1 - 1e-9)),
            (zero, zero + 10),
            (-inf, inf),
            (zero, zero + MAX_EXPONENT),
            e0_bounds,
        ]
    return Bounds(np.stack([low for low, _ in columns], axis=1), np.stack([high for _, high in columns], axis=1))


def starts_for(
    form: Form, log_n: np.ndarray, errors: np.ndarray, guess_error: float | None, ceiling: float | None = None
) -> list[np.ndarray]:
    """Starting points for one curve (``errors``: N): the multiple starts of the point fit."""
    smallest, largest = float(errors.min()), float(errors.max())
    starts = []
    floors = (0.0, 0.5, 0.9) if form in (M2, M4) else (0.0,)
    alphas = (0.0, 0.5, 1.0) if form is M4 else (0.0,)
    e0 = guess_error if guess_error is not None else max(1.5 * largest, largest + 0.1)
    e0 = e0 if ceiling is None or guess_error is not None else min(e0, 0.5 * (largest + max(ceiling, largest)))
    e0 = max(e0, largest * (1 + 1e-6) + ERROR_FLOOR)
    for share in floors:
        for alpha in alphas:
            c = share * smallest
            target = np.log(np.maximum(errors - c, ERROR_FLOOR))
            if form is M4:
                target = target - alpha * np.log(np.maximum(e0 - errors, ERROR_FLOOR))
            slope, intercept = np.polyfit(log_n, target, 1)
            b = float(np.clip(-slope, 0.01, 3.0))
            if form is M1:
                starts.append(np.array([intercept, b]))
            elif form is M2:
                starts.append(np.array([c, intercept, b]))
            elif form is M4:
                starts.append(np.array([c, alpha, intercept, b, e0]))
    if form is M3:
        top = float(np.exp(log_n.max()))
        for gamma in (1e-3 / top, 1.0 / top, 10.0 / top):
            starts.append(np.array([float(np.log(errors).mean()), np.log(gamma), 0.3]))
    return starts


def _fixed(bounds: Bounds) -> np.ndarray:
    """Where a parameter's bounds leave it one value (M4's known ε0)."""
    width = bounds.upper - bounds.lower
    return np.isfinite(width) & (width <= 1e-9 * np.maximum(np.abs(bounds.upper), 1.0))


def _clip_inside(values: np.ndarray, bounds: Bounds) -> np.ndarray:
    finite = np.isfinite(bounds.upper - bounds.lower)
    span = np.where(finite, bounds.upper - bounds.lower, 1.0)
    inner_low, inner_high = bounds.lower + 1e-7 * span, bounds.upper - 1e-7 * span
    clipped = np.clip(values, np.minimum(inner_low, inner_high), np.maximum(inner_low, inner_high))
    middle = np.where(finite, 0.5 * (bounds.lower + np.where(finite, bounds.upper, 0.0)), 0.0)
    return np.where(_fixed(bounds), middle, clipped)


def fit_many(
    form: Form,
    sizes: np.ndarray,
    errors: np.ndarray,
    starts: np.ndarray,
    guess_error: float | None = None,
    loss: str = "log",
    ceiling: float | None = None,
    evaluations: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit each row of ``errors`` (R x N, all at ``sizes``) from its row of ``starts`` (R x P) in one bounded
    least-squares problem; ``loss`` "log" (residual log ε̂ − log ε) or "linear" (ε̂ − ε). Returns the parameters
    (R x P; NaN rows where the fit failed) and each row's sum of squared residuals. ``evaluations`` caps the
    solver's function evaluations (a refit from a nearby start needs few; where it stops, its point is kept)."""
    errors = np.maximum(np.atleast_2d(np.asarray(errors, dtype=float)), ERROR_FLOOR)
    sizes = np.asarray(sizes, dtype=float)
    log_n = np.log(sizes)[None, :]
    rows, count = errors.shape
    bounds = bounds_for(form, errors, guess_error, ceiling)
    fixed = _fixed(bounds)
    start = _clip_inside(np.asarray(starts, dtype=float).reshape(rows, form.size), bounds)
    free = ~fixed[0]  # fixed parameters (M4's known ε0) are left out of the solve
    targets = np.log(errors) if loss == "log" else errors
    parameters = form.size

    def full(x):
        theta = start.copy()
        theta[:, free] = x.reshape(rows, -1)
        return theta

    last_root = {}

    def prediction(theta):
        if form is not M4:
            return predict(form, theta, sizes)
        w, last_root["u"] = _m4_excess(log_n, theta, last_root.get("u"))
        last_root["theta"], last_root["w"] = theta, w
        return theta[:, 0:1] + w

    def residuals(x):
        value = prediction(full(x))
        fitted = np.log(np.maximum(value, 1e-300)) if loss == "log" else value
        return (fitted - targets).ravel()

    width = int(free.sum())
    if rows > 1:  # the block-diagonal sparsity pattern; one curve (every bootstrap refit) is solved densely
        columns = (np.arange(rows)[:, None, None] * width + np.arange(width)[None, None, :]).repeat(count, axis=1)
        pointer = np.arange(0, rows * count * width + 1, width)

    def jacobian(x):
        theta = full(x)
        same = "theta" in last_root and np.array_equal(last_root["theta"], theta)
        value, gradient = prediction_and_gradient(
            form, theta, log_n, last_root.get("u"), last_root["w"] if same else None
        )
        gradient = gradient[:, :, free]
        if loss == "log":
            gradient = gradient / np.maximum(value, 1e-300)[:, :, None]
        if rows == 1:
            return gradient[0]
        return sparse.csr_matrix((gradient.ravel(), columns.ravel(), pointer), shape=(rows * count, rows * width))

    x0 = start[:, free].ravel()
    try:
        with np.errstate(all="ignore"):
            solution = optimize.least_squares(
                residuals,
                x0,
                jac=jacobian,
                bounds=(bounds.lower[:, free].ravel(), bounds.upper[:, free].ravel()),
                method="trf",
                x_scale="jac",
                max_nfev=evaluations * (1 if rows == 1 else 2),
            )
    except (ValueError, np.linalg.LinAlgError):
        return np.full((rows, parameters), np.nan), np.full(rows, np.nan)
    theta = full(solution.x)
    cost = (solution.fun.reshape(rows, count) ** 2).sum(axis=1)
    bad = ~np.isfinite(cost) | ~np.isfinite(theta).all(axis=1)
    theta[bad], cost[bad] = np.nan, np.nan
    return theta, cost


def fit_best(
    form: Form,
    sizes: np.ndarray,
    errors: np.ndarray,
    guess_error: float | None = None,
    loss: str = "log",
    ceiling: float | None = None,
) -> tuple[np.ndarray | None, float]:
    """One curve's fit (``errors``: N at ``sizes``) from the best of the form's multiple starts; (None, nan) when
    every start fails."""
    errors = np.maximum(np.asarray(errors, dtype=float), ERROR_FLOOR)
    starts = np.array(starts_for(form, np.log(sizes), errors, guess_error, ceiling))
    best, best_cost = None, np.inf
    for start in starts:  # one solve per start: a shared trust region would let one poor start slow the others
        theta, cost = fit_many(form, sizes, errors[None, :], start[None, :], guess_error, loss, ceiling)
        if np.isfinite(cost[0]) and cost[0] < best_cost:
            best, best_cost = theta[0], float(cost[0])
    return best, best_cost


def at_bound(form: Form, theta: np.ndarray, errors: np.ndarray) -> list[str]:
    """The parameters of one fit that sit at a bound: "floor at 0", "floor at the smallest error", ..."""
    names = []
    if form in (M2, M4):
        floor, smallest = float(theta[0]), float(np.min(errors))
        if floor <= BOUND_TOLERANCE * smallest:
            names.append("floor at 0")
        elif floor >= (1 - 10 * BOUND_TOLERANCE) * smallest:
            names.append("floor at the smallest error measured")
    exponent = float(theta[form.parameters.index("b")])
    if exponent >= MAX_EXPONENT * (1 - BOUND_TOLERANCE):
        names.append(f"exponent at its bound {MAX_EXPONENT:g}")
    return names
