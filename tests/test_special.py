"""scipy.special rules (gradarray/special.py) against finite differences."""
import warnings

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import gradarray as ga  # noqa: E402
from gradarray import _backend  # noqa: E402
import gradarray.special as gs  # noqa: E402
import standin  # noqa: E402
from gradarray._tables import RULES  # noqa: E402
from gradarray.testing import gradcheck, gradgradcheck  # noqa: E402

R = np.array([-1.3, -0.4, 0.2, 0.9, 2.1])          # generic real points (no 0: kinks of |x|)
POS = np.array([0.3, 0.8, 1.5, 2.7, 4.2])
UNIT = np.array([0.05, 0.3, 0.5, 0.72, 0.95])        # inside (0, 1)

UNARY = [
    (sc.erf, R), (sc.erfc, R), (sc.erfcx, R), (sc.erfinv, 2 * UNIT - 1), (sc.erfcinv, 2 * UNIT),
    (sc.ndtr, R), (sc.ndtri, UNIT), (sc.log_ndtr, np.array([-8.0, -3.0, -0.5, 0.4, 3.0])),
    (sc.expit, R), (sc.logit, UNIT), (sc.log_expit, 3 * R),
    (sc.gammaln, np.array([-2.5, -0.3, 0.4, 1.7, 5.5])), (sc.gamma, np.array([-1.5, -0.3, 0.4, 1.7, 3.5])),
    (sc.digamma, np.array([-1.5, -0.3, 0.4, 1.7, 5.5])), (sc.psi, POS),
    (sc.entr, POS),
    (sc.i0, R), (sc.i0e, R), (sc.i1, R), (sc.i1e, R), (sc.j0, 3 * R), (sc.j1, 3 * R),
    (sc.y0, POS), (sc.y1, POS), (sc.k0, POS), (sc.k1, POS),
]


@pytest.mark.parametrize("func,x", UNARY, ids=[f.__name__ + str(i) for i, (f, _) in enumerate(UNARY)])
def test_unary(backend, func, x):
    gradcheck(func, backend.asarray(x))


BINARY = [
    (sc.betaln, POS, POS[::-1]), (sc.xlogy, R, POS), (sc.xlog1py, R, R[::-1] * 0.4),
    (sc.rel_entr, POS, POS[::-1]), (sc.kl_div, POS, POS[::-1]),
    (sc.boxcox, POS, np.array([-1.2, -0.5, 0.3, 0.7, 2.0])),
]


@pytest.mark.parametrize("func,x,y", BINARY, ids=[f.__name__ for f, _, _ in BINARY])
def test_binary(backend, func, x, y):
    gradcheck(func, backend.asarray(x), backend.asarray(y))


def _cupy_refuses(backend, func, *args):
    """Does CuPy (the oracle, tests/standin.py) refuse ``func(*args)`` on a device backend?
    cupyx.scipy.special lacks jv, yv, iv, kv, ive and erf of complex arguments: no rule can help."""
    return backend.name != "numpy" and standin.ORACLE.check_ufunc_call(func, "__call__", args, {})


@pytest.mark.parametrize("func", [sc.jv, sc.yv, sc.iv, sc.kv, sc.ive], ids=lambda f: f.__name__)
def test_bessel_of_order(backend, func):
    v = np.array([0.0, 0.5, 1.0, 2.0, 3.5])
    if _cupy_refuses(backend, func, v, POS):
        with pytest.raises(TypeError):
            func(ga.asarray(backend.asarray(v)), ga.asarray(backend.asarray(POS)))
        return
    gradcheck(func, backend.asarray(v), backend.asarray(POS), argnums=1)


def test_bessel_order_one_at_zero_is_finite(backend):
    x = backend.asarray(np.array([0.0]))
    for f in (sc.i1, sc.j1, sc.i1e):
        g = ga.grad(lambda t: np.sum(f(t)))(x)
        assert np.allclose(backend.to_host(g), 0.5)


def test_zeta_and_polygamma(backend):
    x = backend.asarray(POS)
    if backend.name == "numpy":
        # on CuPy scipy.special.zeta(s, q) itself fails (it calls the private ufunc _zeta, which
        # cupyx does not have under that name): gs.zeta is the backend-generic spelling
        gradcheck(lambda q: sc.zeta(3.0, q), x)
    assert np.allclose(backend.to_host(gs.zeta(3.0, x)), sc.zeta(3.0, POS))
    gradcheck(lambda q: gs.zeta(3.0, q), x)
    gradgradcheck(lambda q: gs.zeta(2.5, q), x)
    for n in (0, 1, 3):
        assert np.allclose(backend.to_host(gs.polygamma(n, x)), sc.polygamma(n, POS))
        gradcheck(lambda t: gs.polygamma(n, t), x)


class _CupyxLike:
    """What the rules may use of cupyx.scipy.special (CuPy 13): public ``zeta``, ``digamma``,
    ``gamma``, Bessel functions of orders 0 and 1 only (no jv, yv, iv, kv, ive)."""
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name in ("jv", "yv", "iv", "kv", "ive", "_zeta"):
            raise AttributeError(name)
        self.calls.append(name)
        return getattr(sc, name)

    def zeta(self, s, q):
        # a public Hurwitz zeta that runs where q lives (SciPy's is the private ufunc _zeta, which the
        # stand-in refuses as CuPy does): computed on host copies, moved back to q's device
        self.calls.append("zeta")
        host = sc.zeta(s, _backend.to_host(q))
        return _backend.to_device(np.asarray(host), _backend.device_of(q))


@pytest.fixture
def cupyx_like(monkeypatch):
    module = _CupyxLike()
    monkeypatch.setattr(gs, "_special_for", lambda x: module)
    return module


@pytest.mark.parametrize("func,x", [(sc.j1, 3 * R), (sc.y1, POS), (sc.i1, R), (sc.i1e, R), (sc.k1, POS)],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_order_one_bessel_without_order_v_functions(backend, cupyx_like, func, x):
    # the derivatives fall back to the recurrences in orders 0 and 1 (as on CuPy)
    gradcheck(func, backend.asarray(x))
    gradgradcheck(func, backend.asarray(x))


def test_order_one_bessel_fallback_at_zero(backend, cupyx_like):
    x = backend.asarray(np.array([0.0]))
    for f in (sc.i1, sc.j1, sc.i1e):
        g = ga.grad(lambda t: np.sum(f(t)))(x)
        assert np.allclose(backend.to_host(g), 0.5)


def test_zeta_polygamma_digamma_through_the_backend_module(backend, cupyx_like):
    x = backend.asarray(POS)
    gradcheck(lambda q: gs.zeta(3.0, q), x)
    gradcheck(sc.digamma, x)            # digamma' = polygamma(1, .) = 1! zeta(2, .)
    gradgradcheck(sc.digamma, x)
    assert np.allclose(backend.to_host(gs.polygamma(2, x)), sc.polygamma(2, POS))
    assert "zeta" in cupyx_like.calls


def test_complex_erf_and_gamma(backend):
    z = backend.asarray(np.array([0.3 + 0.4j, -0.7 + 0.2j, 1.1 - 0.5j]))
    for func in (sc.erf, sc.gamma):
        if _cupy_refuses(backend, func, np.ones(1, complex)):
            with pytest.raises(TypeError):
                func(ga.asarray(z))
            continue
        gradcheck(func, z)


@pytest.mark.parametrize("func,x", [(sc.erf, R), (sc.gammaln, POS), (sc.digamma, POS), (sc.i1, R),
                                    (sc.j0, R), (sc.expit, R), (sc.ndtri, UNIT)],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_second_order(backend, func, x):
    gradgradcheck(func, backend.asarray(x))


def test_hessian_of_gammaln_is_trigamma():
    h = ga.hessian(lambda t: np.sum(sc.gammaln(t)))(POS)
    assert np.allclose(np.diag(h), sc.polygamma(1, POS))


def test_softplus_through_logaddexp(backend):
    if np.logaddexp not in RULES:
        pytest.skip("scipy.special.softplus is np.logaddexp(0, x): needs the ufunc family's rule")
    gradcheck(sc.softplus, backend.asarray(R))


def test_missing_rule_names_the_function():
    x = ga.asarray(POS, requires_grad=True)
    with pytest.raises(TypeError, match="airy"):
        sc.airy(x)
    with pytest.raises(TypeError, match="gradient rule"):
        sc.struve(1.0, x)


def test_untracked_calls_need_no_rule():
    out = sc.airy(ga.asarray(POS))
    assert np.allclose(out[0].numpy(), sc.airy(POS)[0])


def test_scipy_polygamma_keeps_the_tape():
    # SciPy's Python-level polygamma calls np.asarray; the SciPy bridge now sends GradArrays to
    # gradarray's polygamma instead (it used to warn and drop the tape)
    x = ga.asarray(POS, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)
        y = sc.polygamma(1, x)
    assert y.requires_grad
    np.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), sc.polygamma(2, POS))