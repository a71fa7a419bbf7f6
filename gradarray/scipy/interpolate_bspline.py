"""Differentiable B-splines for ``scipy.interpolate``: ``make_interp_spline`` with tracked data,
``BSpline`` objects with tracked coefficients or evaluated at tracked points, and the two tools the
other interpolators share: a differentiable sparse linear solve, and SciPy objects whose arrays are
tracked (``tracked_instance``).

Tracked objects stay SciPy's classes. ``make_interp_spline(x, y_tracked)`` returns a real
``BSpline`` (``isinstance`` holds, ``.t``, ``.k``, ``.axis`` are SciPy's) whose class is switched
to a subclass that keeps ``.c`` as a GradArray and evaluates with ``np.*`` calls; subclasses the
caller wrote keep their own methods (the subclass is made per class, on first use).

* Interpolation: the coefficients solve the collocation system ``A c = [dl; y; dr]`` (values of
  the basis at the data sites, and the boundary derivative rows). ``A`` depends on the sites and
  knots only; it is assembled sparse (``BSpline.design_matrix``) and factored once with SuperLU;
  the solve is a primitive whose VJP is the transposed solve, itself differentiable (second
  derivatives work). The values are then corrected to SciPy's own coefficients (a constant of
  the size of rounding), so forward values are SciPy's.
* Evaluation: de Boor's recursion on the k+1 coefficients of the knot interval of each point,
  differentiable in the coefficients and in the points; ``nu`` derivatives go through the
  derivative spline's coefficients (k (c[i+1] - c[i]) / (t[i+k+1] - t[i+1])).

Not supported when tracked: the knots ``t`` and the sites ``x`` (a clear error),
``bc_type="periodic"``, ``antiderivative``/``integrate`` of a tracked ``BSpline``.

Must not know about: which SciPy function a caller used (``interpolate.py`` wires the classes).
"""
from __future__ import annotations

import importlib

import numpy as np

from .. import _creation
from .._array import GradArray
from .._registry import Primitive, defvjp
from ._bridge import holds_gradarray, implements_scipy, implements_scipy_method, original_method

__all__ = ["sparse_solver", "tracked_instance", "copy_with", "bspline_evaluate", "refuse_tracked",
           "raw", "floating", "call_layout", "connect"]


def raw(value):
    """The plain array behind a GradArray (anything else as NumPy sees it)."""
    return value._data if type(value) is GradArray else np.asarray(value)


def refuse_tracked(function, **arguments):
    """A clear error for a tracked argument whose gradient gradarray does not compute."""
    for name, value in arguments.items():
        if value is not None and holds_gradarray([value]):
            raise TypeError(f"{function}: argument {name!r} holds a GradArray, but gradients with "
                            f"respect to it are not implemented. Pass it as a plain array "
                            f"(.detach() or .numpy()).")


# ------------------------------------------------------------------------- sparse linear solve
def sparse_solver(matrix):
    """``rhs -> A^{-1} rhs`` for a fixed (plain, sparse or dense) square ``A``, differentiable in
    ``rhs`` (real or complex, shape (n,) or (n, m)); the VJP is ``A^{-T} g``."""
    import scipy.sparse
    import scipy.sparse.linalg
    lu = scipy.sparse.linalg.splu(scipy.sparse.csc_matrix(matrix))

    def solve_with(trans):
        def run(b):
            b = np.asarray(b)
            if b.dtype.kind == "c":
                return run(b.real) + 1j * run(b.imag)
            return lu.solve(np.asarray(b, dtype=np.float64), trans=trans)
        return run

    forward, transposed = Primitive(solve_with("N")), Primitive(solve_with("T"))
    defvjp(forward, lambda g, ans, b: transposed(g), save="none")
    defvjp(transposed, lambda g, ans, b: forward(g), save="none")
    return forward


# ------------------------------------------------------------------------- piecewise constants
_zeros_like = Primitive(np.zeros_like)
defvjp(_zeros_like, lambda g, ans, a: np.zeros_like(g), save="none")


def connect(values, points):
    """``values`` (q, ...) still connected to the tracked ``points`` (q,) where they are locally
    constant in them (nearest samples, degree-0 pieces): the gradient is zero, not missing."""
    if type(points) is not GradArray:
        return values
    if not points.requires_grad:
        return values if type(values) is GradArray else _creation.asarray(values)
    zero = _zeros_like(points)
    return values + np.reshape(zero, tuple(zero.shape) + (1,) * (np.ndim(values) - zero.ndim))


# ------------------------------------------------------------------------- tracked SciPy objects
_TRACKED_CLASSES: dict = {}


def tracked_instance(obj, mixin, **tracked):
    """Switch ``obj`` (a SciPy interpolator built on plain data) to the subclass of its class that
    puts ``mixin``'s methods first, and store the tracked arrays (``_c=...``) on it."""
    cls = type(obj)
    if mixin in cls.__mro__:
        cls = next(c for c in cls.__mro__ if mixin not in c.__mro__)
    key = (cls, mixin)
    if key not in _TRACKED_CLASSES:
        _TRACKED_CLASSES[key] = type(cls.__name__, (mixin, cls),
                                     {"__module__": cls.__module__,
                                      "__qualname__": cls.__qualname__})
    obj.__class__ = _TRACKED_CLASSES[key]
    for name, value in tracked.items():
        setattr(obj, name, value)
    return obj


def copy_with(obj, **attributes):
    """A new object of ``obj``'s class with its attributes, some replaced (``derivative()``)."""
    new = object.__new__(type(obj))
    for klass in type(obj).__mro__:                  # slots (PPoly keeps _c, _x, ... in slots)
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if hasattr(obj, name):
                setattr(new, name, getattr(obj, name))
    new.__dict__.update(getattr(obj, "__dict__", {}))
    for name, value in attributes.items():
        setattr(new, name, value)
    return new


def floating(value):
    value = _creation.asarray(value)
    return value if value.dtype.kind in "fc" else value.astype(np.float64)


# ------------------------------------------------------------------------- evaluation
def _bspline_derivative(t, c, k):
    """Knots, coefficients, degree of the derivative spline (FITPACK's splder rule)."""
    n = len(t) - k - 1
    width = t[k + 1:n + k] - t[1:n]
    scale = np.where(width > 0, k / np.where(width > 0, width, 1.0), 0.0)
    scale = scale.reshape((-1,) + (1,) * (c.ndim - 1))
    return t[1:-1], (c[1:n] - c[:n - 1]) * scale, k - 1


def bspline_evaluate(t, c, k, x, nu=0, extrapolate=True):
    """Values at the points ``x`` (shape (m,), possibly tracked) of the spline (t, c, k);
    ``c`` (n, ...) possibly tracked; the result has shape (m, ...)."""
    t = np.asarray(t, dtype=float)
    if nu > k:
        raise ValueError(f"cannot evaluate derivative {nu} of a spline of degree {k}")
    for _ in range(nu):
        t, c, k = _bspline_derivative(t, c, k)
    n = len(t) - k - 1
    x_raw = raw(x)
    if extrapolate == "periodic":
        period = t[n] - t[k]
        x = t[k] + (x - t[k]) % period
        x_raw = raw(x)
        extrapolate = False
    interval = np.clip(np.searchsorted(t, x_raw, side="right") - 1, k, n - 1)
    trailing = (1,) * (c.ndim - 1)
    xs = np.reshape(x, (-1,) + trailing)
    # de Boor: d_j = c[l-k+j], then d_j <- (1 - a) d_{j-1} + a d_j, a = (x - t_{l-k+j}) /
    # (t_{l+1+j-r} - t_{l-k+j}), for r = 1..k and j = k..r
    d = [c[interval - k + j] for j in range(k + 1)]
    for r in range(1, k + 1):
        for j in range(k, r - 1, -1):
            left = t[interval - k + j]
            width = t[interval + 1 + j - r] - left
            alpha = (xs - left.reshape((-1,) + trailing)) / width.reshape((-1,) + trailing)
            d[j] = (1.0 - alpha) * d[j - 1] + alpha * d[j]
    value = d[k]
    if not extrapolate:
        outside = ((x_raw < t[k]) | (x_raw > t[n])).reshape((-1,) + trailing)
        value = np.where(outside, np.nan, value)
    return value


def call_layout(out, x_shape, x_ndim, axis):
    """SciPy's output layout: points' shape in place of the interpolation axis."""
    out = np.reshape(out, x_shape + tuple(out.shape[1:]))
    if axis != 0:
        order = list(range(out.ndim))
        order = order[x_ndim:x_ndim + axis] + order[:x_ndim] + order[x_ndim + axis:]
        out = np.transpose(out, order)
    return out


def _bspline_call(spline, c, x, nu, extrapolate):
    if extrapolate is None:
        extrapolate = spline.extrapolate
    x = floating(x)
    n = len(spline._t) - spline.k - 1
    points = np.reshape(x, (-1,))
    out = connect(bspline_evaluate(spline._t, c[:n], spline.k, points, nu, extrapolate), points)
    return call_layout(out, x.shape, x.ndim, spline.axis)


def scipy_method(module, cls, method):
    """SciPy's own ``module.cls.method`` (the interpolators' ``__init__`` behind the bridge)."""
    return original_method(getattr(importlib.import_module(module), cls), method)


def _set_coefficients(spline, value):
    spline._c = value if type(value) is GradArray else np.asarray(value)


# ``spline.c`` of a spline whose coefficients ``_c`` may be a GradArray (SciPy's own property
# would turn them into a plain array): B-splines here, piecewise polynomials in ``interpolate``
tracked_coefficients = property(lambda spline: spline._c, _set_coefficients)


class TrackedBSpline:
    """Methods of a ``BSpline`` whose coefficients ``_c`` are a GradArray."""

    c = tracked_coefficients

    @property
    def tck(self):
        return self.t, self._c, self.k

    def __call__(self, x, nu=0, extrapolate=None):
        return _bspline_call(self, self._c, x, nu, extrapolate)

    def derivative(self, nu=1):
        t, c, k = self._t, self._c, self.k
        for _ in range(nu):
            t, c, k = _bspline_derivative(t, c, k)
        return copy_with(self, _t=t, _c=c, k=k)

    def _not_tracked(self, *args, **kwargs):
        raise NotImplementedError("scipy.interpolate.BSpline: this method is not differentiable "
                                  "in gradarray; the coefficients are tracked. Use a spline of "
                                  "detached coefficients (BSpline(t, c.detach(), k)).")

    antiderivative = integrate = insert_knot = _not_tracked


@implements_scipy_method("scipy.interpolate._bsplines", "BSpline", "__call__")
def _bspline_at_tracked_points(self, x, nu=0, extrapolate=None):
    return _bspline_call(self, self._c, x, nu, extrapolate)


@implements_scipy_method("scipy.interpolate._bsplines", "BSpline", "__init__")
def _bspline_with_tracked_coefficients(self, t, c, k, extrapolate=True, axis=0):
    import scipy.interpolate
    refuse_tracked("scipy.interpolate.BSpline", t=t)
    c = floating(c)
    scipy.interpolate.BSpline.__init__.__gradarray_original__(self, t, c._data, k, extrapolate,
                                                              axis)
    tracked_instance(self, TrackedBSpline, _c=np.moveaxis(c, self.axis, 0))


# ------------------------------------------------------------------------- make_interp_spline
def _derivative_conditions(side, trailing):
    """[(order, value)] at one end from ``bc_type``'s entry for it."""
    if side is None:
        return []
    if isinstance(side, str):
        order = {"clamped": 1, "natural": 2}.get(side)
        if order is None:
            raise ValueError(f"Unknown boundary condition : {side}")
        return [(order, np.zeros(trailing))]
    return [(int(order), np.broadcast_to(np.asarray(value, dtype=float), trailing))
            for order, value in side]


def _basis_derivative_row(t, k, at, order, n):
    """The row (B_0^(order)(at), ..., B_{n-1}^(order)(at)) (k+1 nonzero entries)."""
    import scipy.interpolate
    interval = int(np.clip(np.searchsorted(t, at, side="right") - 1, k, n - 1))
    columns = np.arange(interval - k, interval + 1)
    unit = np.zeros((n, k + 1))
    unit[columns, np.arange(k + 1)] = 1.0
    values = scipy.interpolate.BSpline(t, unit, k)(at, nu=order)
    row = np.zeros(n)
    row[columns] = values
    return row


def collocation_matrix(x, t, k, left, right):
    """Sparse A of ``make_interp_spline``: derivative rows at x[0], basis values at every site,
    derivative rows at x[-1]."""
    import scipy.interpolate
    import scipy.sparse
    n = len(t) - k - 1
    rows = [scipy.sparse.csr_matrix([_basis_derivative_row(t, k, x[0], order, n)
                                     for order, _ in left])] if left else []
    rows.append(scipy.interpolate.BSpline.design_matrix(x, t, k))
    if right:
        rows.append(scipy.sparse.csr_matrix([_basis_derivative_row(t, k, x[-1], order, n)
                                             for order, _ in right]))
    return scipy.sparse.vstack(rows).tocsc()


@implements_scipy("scipy.interpolate", "make_interp_spline")
def make_interp_spline(x, y, k=3, t=None, bc_type=None, axis=0, check_finite=True):
    import scipy.interpolate
    refuse_tracked("scipy.interpolate.make_interp_spline", x=x, t=t, bc_type=bc_type)
    y = floating(y)
    reference = scipy.interpolate.make_interp_spline.__gradarray_original__(
        raw(x), y._data, k, t, bc_type, axis, check_finite)
    if not y.requires_grad:
        return reference
    if bc_type == "periodic":
        raise NotImplementedError("scipy.interpolate.make_interp_spline: bc_type='periodic' is "
                                  "not differentiable in gradarray for tracked y.")
    ymoved = np.moveaxis(y, reference.axis, 0)
    trailing = tuple(ymoved.shape[1:])
    if reference.k <= 1 and t is None:          # k = 0, 1: the coefficients are the data
        c = ymoved
    else:
        x = np.asarray(raw(x), dtype=float)
        if bc_type in (None, "not-a-knot"):
            left = right = []
        elif isinstance(bc_type, str):
            left = right = _derivative_conditions(bc_type, trailing)
        else:
            left, right = (_derivative_conditions(side, trailing) for side in bc_type)
        solve = sparse_solver(collocation_matrix(x, reference._t, reference.k, left, right))
        flat = np.reshape(ymoved, (len(x), -1))
        width = flat.shape[1]
        rhs = np.concatenate([np.reshape(np.asarray([v for _, v in left], dtype=float),
                                         (len(left), width)),
                              flat,
                              np.reshape(np.asarray([v for _, v in right], dtype=float),
                                         (len(right), width))], axis=0)
        c = np.reshape(solve(rhs), (-1,) + trailing)
    c = c + (reference._c - c._data)            # SciPy's values, to the last bit
    return tracked_instance(reference, TrackedBSpline, _c=c)
