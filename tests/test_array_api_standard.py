r"""The array API standard, 2025.12, in ``gradarray.array_api``: every name the standard defines
exists, has the standard's exact signature, and differentiates through the standard's name.

The table below lists every name of the 2025.12 standard (functions of the namespace, of its
``linalg`` and ``fft`` extensions, of ``__array_namespace_info__()`` as ``info.*``, and the array
object's methods and properties as ``array.*``), with its signature (None: not a callable:
constants, dtypes, properties). It was generated from the standard's stubs, data-apis/array-api at commit
8884c406ff8a3b81ab836cefcacb08bc4a92ae18, ``src/array_api_stubs/_2025_12``, by this script
(``python3 gen.py <that directory>``):

    import ast, pathlib, sys
    root = pathlib.Path(sys.argv[1])  # a checkout's src/array_api_stubs/_2025_12
    def sig(f):
        a, parts = f.args, []
        pos = a.posonlyargs + a.args
        for i, (p, d) in enumerate(zip(pos, [None] * (len(pos) - len(a.defaults)) + a.defaults)):
            parts.append(p.arg + ("" if d is None else "=" + ast.unparse(d)))
            if i == len(a.posonlyargs) - 1:
                parts.append("/")
        parts += ["*" + a.vararg.arg] if a.vararg else ["*"] if a.kwonlyargs else []
        parts += [p.arg + "=" + ast.unparse(d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
        return "(" + ", ".join(parts) + ")"
    table = {n: None for n in ("bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 "
                               "float64 complex64 complex128 __array_api_version__").split()}
    for path in sorted(p for p in root.glob("[!_]*.py") if p.stem != "data_types"):
        prefix = {"linalg": "linalg.", "fft": "fft.", "info": "info.",
                  "array_object": "array."}.get(path.stem, "")
        body = ast.parse(path.read_text()).body
        names = next((ast.literal_eval(n.value) for n in body if isinstance(n, ast.Assign)
                      and getattr(n.targets[0], "id", "") == "__all__"), [])
        if path.stem == "array_object":
            body, names = next(n for n in body if isinstance(n, ast.ClassDef)).body, None
        if path.stem == "constants":
            table.update(dict.fromkeys(names))
        for n in body:
            if isinstance(n, ast.FunctionDef) and (names is None or n.name in names):
                prop = any(getattr(d, "id", "") == "property" for d in n.decorator_list)
                key = n.name if n.name == "__array_namespace_info__" else prefix + n.name
                table[key] = None if prop else sig(n)
    rows = "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(table.items()))
    print("SIGNATURES = {\n" + rows + "}")
"""
import inspect

import numpy as np
import pytest

import gradarray as ga
import gradarray.array_api as xp
from gradarray.testing import gradcheck

SIGNATURES = {
    '__array_api_version__': None,
    '__array_namespace_info__': '()',
    'abs': '(x, /)',
    'acos': '(x, /)',
    'acosh': '(x, /)',
    'add': '(x1, x2, /)',
    'all': '(x, /, *, axis=None, keepdims=False)',
    'any': '(x, /, *, axis=None, keepdims=False)',
    'arange': '(start, /, stop=None, step=1, *, dtype=None, device=None)',
    'argmax': '(x, /, *, axis=None, keepdims=False)',
    'argmin': '(x, /, *, axis=None, keepdims=False)',
    'argsort': '(x, /, *, axis=-1, descending=False, stable=True)',
    'array.T': None,
    'array.__abs__': '(self, /)',
    'array.__add__': '(self, other, /)',
    'array.__and__': '(self, other, /)',
    'array.__array_namespace__': '(self, /, *, api_version=None)',
    'array.__bool__': '(self, /)',
    'array.__complex__': '(self, /)',
    'array.__dlpack__': '(self, /, *, stream=None, max_version=None, dl_device=None, copy=None)',
    'array.__dlpack_device__': '(self, /)',
    'array.__eq__': '(self, other, /)',
    'array.__float__': '(self, /)',
    'array.__floordiv__': '(self, other, /)',
    'array.__ge__': '(self, other, /)',
    'array.__getitem__': '(self, key, /)',
    'array.__gt__': '(self, other, /)',
    'array.__index__': '(self, /)',
    'array.__init__': '(self)',
    'array.__int__': '(self, /)',
    'array.__invert__': '(self, /)',
    'array.__le__': '(self, other, /)',
    'array.__lshift__': '(self, other, /)',
    'array.__lt__': '(self, other, /)',
    'array.__matmul__': '(self, other, /)',
    'array.__mod__': '(self, other, /)',
    'array.__mul__': '(self, other, /)',
    'array.__ne__': '(self, other, /)',
    'array.__neg__': '(self, /)',
    'array.__or__': '(self, other, /)',
    'array.__pos__': '(self, /)',
    'array.__pow__': '(self, other, /)',
    'array.__rshift__': '(self, other, /)',
    'array.__setitem__': '(self, key, value, /)',
    'array.__sub__': '(self, other, /)',
    'array.__truediv__': '(self, other, /)',
    'array.__xor__': '(self, other, /)',
    'array.device': None,
    'array.dtype': None,
    'array.mT': None,
    'array.ndim': None,
    'array.shape': None,
    'array.size': None,
    'array.to_device': '(self, device, /, *, stream=None)',
    'asarray': '(obj, /, *, dtype=None, device=None, copy=None)',
    'asin': '(x, /)',
    'asinh': '(x, /)',
    'astype': '(x, dtype, /, *, copy=True, device=None)',
    'atan': '(x, /)',
    'atan2': '(x1, x2, /)',
    'atanh': '(x, /)',
    'bitwise_and': '(x1, x2, /)',
    'bitwise_invert': '(x, /)',
    'bitwise_left_shift': '(x1, x2, /)',
    'bitwise_or': '(x1, x2, /)',
    'bitwise_right_shift': '(x1, x2, /)',
    'bitwise_xor': '(x1, x2, /)',
    'bool': None,
    'broadcast_arrays': '(*arrays)',
    'broadcast_shapes': '(*shapes)',
    'broadcast_to': '(x, /, shape)',
    'can_cast': '(from_, to, /)',
    'ceil': '(x, /)',
    'clip': '(x, /, min=None, max=None)',
    'complex128': None,
    'complex64': None,
    'concat': '(arrays, /, *, axis=0)',
    'conj': '(x, /)',
    'copysign': '(x1, x2, /)',
    'cos': '(x, /)',
    'cosh': '(x, /)',
    'count_nonzero': '(x, /, *, axis=None, keepdims=False)',
    'cumulative_prod': '(x, /, *, axis=None, dtype=None, include_initial=False)',
    'cumulative_sum': '(x, /, *, axis=None, dtype=None, include_initial=False)',
    'diff': '(x, /, *, axis=-1, n=1, prepend=None, append=None)',
    'divide': '(x1, x2, /)',
    'e': None,
    'empty': '(shape, *, dtype=None, device=None)',
    'empty_like': '(x, /, *, dtype=None, device=None)',
    'equal': '(x1, x2, /)',
    'exp': '(x, /)',
    'expand_dims': '(x, /, axis)',
    'expm1': '(x, /)',
    'eye': '(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None)',
    'fft.fft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.fftfreq': '(n, /, *, d=1.0, dtype=None, device=None)',
    'fft.fftn': "(x, /, *, s=None, axes=None, norm='backward')",
    'fft.fftshift': '(x, /, *, axes=None)',
    'fft.hfft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.ifft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.ifftn': "(x, /, *, s=None, axes=None, norm='backward')",
    'fft.ifftshift': '(x, /, *, axes=None)',
    'fft.ihfft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.irfft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.irfftn': "(x, /, *, s=None, axes=None, norm='backward')",
    'fft.rfft': "(x, /, *, n=None, axis=-1, norm='backward')",
    'fft.rfftfreq': '(n, /, *, d=1.0, dtype=None, device=None)',
    'fft.rfftn': "(x, /, *, s=None, axes=None, norm='backward')",
    'finfo': '(type, /)',
    'flip': '(x, /, *, axis=None)',
    'float32': None,
    'float64': None,
    'floor': '(x, /)',
    'floor_divide': '(x1, x2, /)',
    'from_dlpack': '(x, /, *, device=None, copy=None)',
    'full': '(shape, fill_value, *, dtype=None, device=None)',
    'full_like': '(x, /, fill_value, *, dtype=None, device=None)',
    'greater': '(x1, x2, /)',
    'greater_equal': '(x1, x2, /)',
    'hypot': '(x1, x2, /)',
    'iinfo': '(type, /)',
    'imag': '(x, /)',
    'inf': None,
    'info.capabilities': '()',
    'info.default_device': '()',
    'info.default_dtypes': '(*, device=None)',
    'info.devices': '()',
    'info.dtypes': '(*, device=None, kind=None)',
    'int16': None,
    'int32': None,
    'int64': None,
    'int8': None,
    'isdtype': '(dtype, kind)',
    'isfinite': '(x, /)',
    'isin': '(x1, x2, /, *, invert=False)',
    'isinf': '(x, /)',
    'isnan': '(x, /)',
    'less': '(x1, x2, /)',
    'less_equal': '(x1, x2, /)',
    'linalg.cholesky': '(x, /, *, upper=False)',
    'linalg.cross': '(x1, x2, /, *, axis=-1)',
    'linalg.det': '(x, /)',
    'linalg.diagonal': '(x, /, *, offset=0)',
    'linalg.eig': '(x, /)',
    'linalg.eigh': '(x, /)',
    'linalg.eigvals': '(x, /)',
    'linalg.eigvalsh': '(x, /)',
    'linalg.inv': '(x, /)',
    'linalg.matmul': '(x1, x2, /)',
    'linalg.matrix_norm': "(x, /, *, keepdims=False, ord='fro')",
    'linalg.matrix_power': '(x, n, /)',
    'linalg.matrix_rank': '(x, /, *, rtol=None)',
    'linalg.matrix_transpose': '(x, /)',
    'linalg.outer': '(x1, x2, /)',
    'linalg.pinv': '(x, /, *, rtol=None)',
    'linalg.qr': "(x, /, *, mode='reduced')",
    'linalg.slogdet': '(x, /)',
    'linalg.solve': '(x1, x2, /)',
    'linalg.svd': '(x, /, *, full_matrices=True)',
    'linalg.svdvals': '(x, /)',
    'linalg.tensordot': '(x1, x2, /, *, axes=2)',
    'linalg.trace': '(x, /, *, offset=0, dtype=None)',
    'linalg.vecdot': '(x1, x2, /, *, axis=-1)',
    'linalg.vector_norm': '(x, /, *, axis=None, keepdims=False, ord=2)',
    'linspace': '(start, stop, /, num, *, dtype=None, device=None, endpoint=True)',
    'log': '(x, /)',
    'log10': '(x, /)',
    'log1p': '(x, /)',
    'log2': '(x, /)',
    'logaddexp': '(x1, x2, /)',
    'logical_and': '(x1, x2, /)',
    'logical_not': '(x, /)',
    'logical_or': '(x1, x2, /)',
    'logical_xor': '(x1, x2, /)',
    'matmul': '(x1, x2, /)',
    'matrix_transpose': '(x, /)',
    'max': '(x, /, *, axis=None, keepdims=False)',
    'maximum': '(x1, x2, /)',
    'mean': '(x, /, *, axis=None, keepdims=False)',
    'meshgrid': "(*arrays, indexing='xy')",
    'min': '(x, /, *, axis=None, keepdims=False)',
    'minimum': '(x1, x2, /)',
    'moveaxis': '(x, source, destination, /)',
    'multiply': '(x1, x2, /)',
    'nan': None,
    'negative': '(x, /)',
    'newaxis': None,
    'nextafter': '(x1, x2, /)',
    'nonzero': '(x, /)',
    'not_equal': '(x1, x2, /)',
    'ones': '(shape, *, dtype=None, device=None)',
    'ones_like': '(x, /, *, dtype=None, device=None)',
    'permute_dims': '(x, /, axes)',
    'pi': None,
    'positive': '(x, /)',
    'pow': '(x1, x2, /)',
    'prod': '(x, /, *, axis=None, dtype=None, keepdims=False)',
    'real': '(x, /)',
    'reciprocal': '(x, /)',
    'remainder': '(x1, x2, /)',
    'repeat': '(x, repeats, /, *, axis=None)',
    'reshape': '(x, /, shape, *, copy=None)',
    'result_type': '(*arrays_and_dtypes)',
    'roll': '(x, /, shift, *, axis=None)',
    'round': '(x, /)',
    'searchsorted': "(x1, x2, /, *, side='left', sorter=None)",
    'sign': '(x, /)',
    'signbit': '(x, /)',
    'sin': '(x, /)',
    'sinh': '(x, /)',
    'sort': '(x, /, *, axis=-1, descending=False, stable=True)',
    'sqrt': '(x, /)',
    'square': '(x, /)',
    'squeeze': '(x, /, axis)',
    'stack': '(arrays, /, *, axis=0)',
    'std': '(x, /, *, axis=None, correction=0.0, keepdims=False)',
    'subtract': '(x1, x2, /)',
    'sum': '(x, /, *, axis=None, dtype=None, keepdims=False)',
    'take': '(x, indices, /, *, axis=None)',
    'take_along_axis': '(x, indices, /, *, axis=-1)',
    'tan': '(x, /)',
    'tanh': '(x, /)',
    'tensordot': '(x1, x2, /, *, axes=2)',
    'tile': '(x, repetitions, /)',
    'tril': '(x, /, *, k=0)',
    'triu': '(x, /, *, k=0)',
    'trunc': '(x, /)',
    'uint16': None,
    'uint32': None,
    'uint64': None,
    'uint8': None,
    'unique_all': '(x, /)',
    'unique_counts': '(x, /)',
    'unique_inverse': '(x, /)',
    'unique_values': '(x, /)',
    'unstack': '(x, /, *, axis=0)',
    'var': '(x, /, *, axis=None, correction=0.0, keepdims=False)',
    'vecdot': '(x1, x2, /, *, axis=-1)',
    'where': '(condition, x1, x2, /)',
    'zeros': '(shape, *, dtype=None, device=None)',
    'zeros_like': '(x, /, *, dtype=None, device=None)',
}


# -------------------------------------------------------------------------------------- names
def _lookup(name):
    """The object ``name`` (a key of SIGNATURES) denotes in gradarray's namespace."""
    head, _, rest = name.partition(".")
    if head == "info" and rest:
        return getattr(xp.__array_namespace_info__(), rest)
    if head == "array" and rest:
        return getattr(xp.ones((2, 2)), rest)
    obj = xp
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_every_name_of_the_standard_exists(name):
    head, _, rest = name.partition(".")
    if head == "array" and rest:
        assert hasattr(ga.GradArray, rest), f"GradArray has no {rest}"
    else:
        _lookup(name)


def test_namespace_constants():
    assert xp.__array_api_version__ == "2025.12"
    assert xp.newaxis is None and xp.e == np.e and xp.pi == np.pi and xp.inf == np.inf
    assert np.isnan(xp.nan)
    for dtype in ("bool", "int8", "uint64", "float32", "complex128"):
        assert np.dtype(getattr(xp, dtype)) == np.dtype(dtype)


# -------------------------------------------------------------------------------------- signatures
# the array object's methods that gradarray gives the standard's exact signature; the operators and
# conversions come from NumPy's mixin and gradarray's dispatch, with the same parameters but
# without the positional-only marker
EXACT_ARRAY_METHODS = {"array.__array_namespace__", "array.__dlpack__", "array.to_device"}
CALLABLES = sorted(k for k, v in SIGNATURES.items() if v is not None
                   and not (k.startswith("array.") and k not in EXACT_ARRAY_METHODS))


def _expected(name):
    text = SIGNATURES[name]
    if name.startswith("array."):           # a bound method: no self
        text = text.replace("(self, /, ", "(").replace("(self, ", "(")
    return text


@pytest.mark.parametrize("name", CALLABLES)
def test_signature_is_the_standards(name):
    """Parameter names, kinds (positional-only ``/``, keyword-only ``*``) and defaults."""
    assert str(inspect.signature(_lookup(name))) == _expected(name)


@pytest.mark.parametrize("name", sorted(k for k, v in SIGNATURES.items()
                                        if k.startswith("array.") and v is not None
                                        and k not in EXACT_ARRAY_METHODS and k != "array.__init__"))
def test_array_methods_take_the_standards_arguments(name):
    """The operators and conversions: as many parameters, in order (the names of positional-only
    ones are free)."""
    stub = [p.split("=")[0] for p in SIGNATURES[name].strip("()").split(", ")[1:] if p not in "/*"]
    params = list(inspect.signature(_lookup(name)).parameters)
    assert len(params) == len(stub), f"{name}: {params} vs {SIGNATURES[name]}"


def test_functions_check_arguments_like_a_def():
    x = xp.ones(3)
    for call in (lambda: xp.add(x), lambda: xp.add(x, x, x), lambda: xp.add(x1=x, x2=x),
                 lambda: xp.exp(x=x), lambda: xp.sum(x, 0), lambda: xp.linalg.vecdot(x, x, -1),
                 lambda: xp.fft.fft(x, 4), lambda: xp.expand_dims(x)):
        with pytest.raises(TypeError):
            call()
    assert xp.add.__name__ == "add" and xp.atan2.__qualname__ == "atan2"
    assert xp.squeeze(xp.ones((1, 2)), axis=0).shape == (2,) and xp.squeeze(xp.ones((1, 2)), 0).shape == (2,)


# -------------------------------------------------------------------------------------- gradients
# each differentiable name: (a function of one array, written with that name; the input; whether
# the standard accepts complex input). Inputs: "unit" values in (0.2, 0.9) (complex: plus
# 0.1j..0.5j), away from every branch cut, kink and pole of the functions given them; "matrix" a
# well-conditioned 3x3; "vector3" rows of length 3 (cross).
def _s(x):
    """A second, different operand from the same input (binary functions)."""
    return xp.flip(x, axis=1) + 0.5


GRADIENTS = {
    # elementwise
    "abs": (lambda x: xp.abs(x - 0.5), "unit", True),
    "acos": (lambda x: xp.acos(x - 0.5), "unit", True),
    "acosh": (lambda x: xp.acosh(x + 1.0), "unit", True),
    "add": (lambda x: xp.add(x, _s(x)), "unit", True),
    "asin": (lambda x: xp.asin(x - 0.5), "unit", True),
    "asinh": (lambda x: xp.asinh(x), "unit", True),
    "atan": (lambda x: xp.atan(x), "unit", True),
    "atan2": (lambda x: xp.atan2(x, _s(x)), "unit", False),
    "atanh": (lambda x: xp.atanh(x - 0.5), "unit", True),
    "ceil": (lambda x: xp.ceil(x + 0.05), "unit", False),
    "conj": (lambda x: xp.conj(x), "unit", True),
    "copysign": (lambda x: xp.copysign(x, x - 0.5), "unit", False),
    "cos": (lambda x: xp.cos(x), "unit", True),
    "cosh": (lambda x: xp.cosh(x), "unit", True),
    "divide": (lambda x: xp.divide(x, _s(x)), "unit", True),
    "exp": (lambda x: xp.exp(x), "unit", True),
    "expm1": (lambda x: xp.expm1(x), "unit", True),
    "floor": (lambda x: xp.floor(x + 0.05), "unit", False),
    "floor_divide": (lambda x: xp.floor_divide(x, 0.3), "unit", False),
    "hypot": (lambda x: xp.hypot(x, _s(x)), "unit", False),
    "imag": (lambda x: xp.imag(x), "unit", True),
    "log": (lambda x: xp.log(x), "unit", True),
    "log10": (lambda x: xp.log10(x), "unit", True),
    "log1p": (lambda x: xp.log1p(x), "unit", True),
    "log2": (lambda x: xp.log2(x), "unit", True),
    "logaddexp": (lambda x: xp.logaddexp(x, _s(x)), "unit", False),
    "maximum": (lambda x: xp.maximum(x, 0.55), "unit", False),
    "minimum": (lambda x: xp.minimum(x, 0.55), "unit", False),
    "multiply": (lambda x: xp.multiply(x, _s(x)), "unit", True),
    "negative": (lambda x: xp.negative(x), "unit", True),
    "positive": (lambda x: xp.positive(x), "unit", True),
    "pow": (lambda x: xp.pow(x, _s(x)), "unit", True),
    "real": (lambda x: xp.real(x), "unit", True),
    "reciprocal": (lambda x: xp.reciprocal(x), "unit", True),
    "remainder": (lambda x: xp.remainder(x, 0.3), "unit", False),
    "round": (lambda x: xp.round(x + 0.05), "unit", True),
    "sign": (lambda x: xp.sign(x - 0.5), "unit", True),
    "sin": (lambda x: xp.sin(x), "unit", True),
    "sinh": (lambda x: xp.sinh(x), "unit", True),
    "sqrt": (lambda x: xp.sqrt(x), "unit", True),
    "square": (lambda x: xp.square(x), "unit", True),
    "subtract": (lambda x: xp.subtract(x, _s(x)), "unit", True),
    "tan": (lambda x: xp.tan(x), "unit", True),
    "tanh": (lambda x: xp.tanh(x), "unit", True),
    "trunc": (lambda x: xp.trunc(x + 0.05), "unit", False),
    "clip": (lambda x: xp.clip(x, min=0.25, max=0.85), "unit", False),
    # creation, data types, the array object
    "asarray": (lambda x: xp.asarray(x), "unit", True),
    "astype": (lambda x: xp.astype(x, x.dtype) * xp.astype(x, xp.complex128), "unit", True),
    "full": (lambda x: xp.full((2, 2), x[0, 1]), "unit", True),
    "meshgrid": (lambda x: xp.meshgrid(x[0], x[1, :2])[0] * xp.meshgrid(x[0], x[1, :2])[1], "unit", True),
    "tril": (lambda x: xp.tril(x, k=1), "matrix", True),
    "triu": (lambda x: xp.triu(x, k=-1), "matrix", True),
    "array.to_device": (lambda x: x.to_device("cpu") * 2, "unit", True),
    # linear algebra
    "matmul": (lambda x: xp.matmul(x, xp.matrix_transpose(x)), "unit", True),
    "matrix_transpose": (lambda x: xp.matrix_transpose(x), "unit", True),
    "tensordot": (lambda x: xp.tensordot(x, _s(x), axes=([1], [1])), "unit", True),
    "vecdot": (lambda x: xp.vecdot(x, _s(x), axis=0), "unit", True),
    # manipulation, indexing, searching, sorting, sets
    "broadcast_arrays": (lambda x: xp.broadcast_arrays(x[:1], x)[0] * x, "unit", True),
    "broadcast_to": (lambda x: xp.broadcast_to(x[:, :1], (2, 4)), "unit", True),
    "concat": (lambda x: xp.concat([x, _s(x)], axis=None), "unit", True),
    "expand_dims": (lambda x: xp.expand_dims(x, axis=(0, -1)), "unit", True),
    "flip": (lambda x: xp.flip(x, axis=1), "unit", True),
    "moveaxis": (lambda x: xp.moveaxis(x, 0, -1), "unit", True),
    "permute_dims": (lambda x: xp.permute_dims(x, (-1, 0)), "unit", True),
    "repeat": (lambda x: xp.repeat(x, 2, axis=1), "unit", True),
    "reshape": (lambda x: xp.reshape(x, (4, 2), copy=True), "unit", True),
    "roll": (lambda x: xp.roll(x, 1, axis=1), "unit", True),
    "squeeze": (lambda x: xp.squeeze(x[:1], axis=0), "unit", True),
    "stack": (lambda x: xp.stack([x, _s(x)], axis=1), "unit", True),
    "tile": (lambda x: xp.tile(x, (2, 1)), "unit", True),
    "unstack": (lambda x: xp.unstack(x, axis=1)[2], "unit", True),
    "take": (lambda x: xp.take(x, xp.asarray([3, 0, 3]), axis=1), "unit", True),
    "take_along_axis": (lambda x: xp.take_along_axis(x, xp.asarray([[1, 0], [3, 3]]), axis=1), "unit", True),
    "where": (lambda x: xp.where(xp.real(x) > 0.5, x, _s(x)), "unit", True),
    "sort": (lambda x: xp.sort(x, axis=1, descending=True), "unit", False),
    "unique_all": (lambda x: xp.unique_all(x).values, "unit", False),
    "unique_counts": (lambda x: xp.unique_counts(x).values, "unit", False),
    "unique_inverse": (lambda x: xp.unique_inverse(x).values, "unit", False),
    "unique_values": (lambda x: xp.unique_values(x), "unit", False),
    # statistics, utilities
    "cumulative_prod": (lambda x: xp.cumulative_prod(x, axis=1, include_initial=True), "unit", True),
    "cumulative_sum": (lambda x: xp.cumulative_sum(x, axis=0, include_initial=True), "unit", True),
    "max": (lambda x: xp.max(x, axis=1), "unit", False),
    "mean": (lambda x: xp.mean(x, axis=0, keepdims=True), "unit", True),
    "min": (lambda x: xp.min(x, axis=0), "unit", False),
    "prod": (lambda x: xp.prod(x, axis=1), "unit", True),
    "std": (lambda x: xp.std(x, axis=1, correction=1), "unit", False),
    "sum": (lambda x: xp.sum(x), "unit", True),
    "var": (lambda x: xp.var(x, correction=0.5), "unit", False),
    "diff": (lambda x: xp.diff(x, axis=1, prepend=x[:, :1]), "unit", True),
    # linalg (eigenvectors and singular vectors are fixed up to a sign or phase: differentiate
    # functions of them that are not)
    "linalg.cholesky": (lambda x: xp.linalg.cholesky(_hermitian(x), upper=True), "matrix", True),
    "linalg.cross": (lambda x: xp.linalg.cross(x, xp.flip(x, axis=0)), "vector3", True),
    "linalg.det": (lambda x: xp.linalg.det(x), "matrix", True),
    "linalg.diagonal": (lambda x: xp.linalg.diagonal(x, offset=1), "matrix", True),
    "linalg.eig": (lambda x: (xp.linalg.eig(x).eigenvalues, _gauge_free(xp.linalg.eig(x).eigenvectors)),
                   "matrix", True),
    "linalg.eigh": (lambda x: (xp.linalg.eigh(_hermitian(x)).eigenvalues,
                               _gauge_free(xp.linalg.eigh(_hermitian(x)).eigenvectors)), "matrix", True),
    "linalg.eigvals": (lambda x: xp.linalg.eigvals(x), "matrix", True),
    "linalg.eigvalsh": (lambda x: xp.linalg.eigvalsh(_hermitian(x)), "matrix", True),
    "linalg.inv": (lambda x: xp.linalg.inv(x), "matrix", True),
    "linalg.matmul": (lambda x: xp.linalg.matmul(x, x), "matrix", True),
    "linalg.matrix_norm": (lambda x: xp.linalg.matrix_norm(x) + xp.linalg.matrix_norm(x, ord=2), "matrix", True),
    "linalg.matrix_power": (lambda x: xp.linalg.matrix_power(x, 3), "matrix", True),
    "linalg.matrix_transpose": (lambda x: xp.linalg.matrix_transpose(x[:2]), "matrix", True),
    "linalg.outer": (lambda x: xp.linalg.outer(x[0], x[1]), "matrix", True),
    "linalg.pinv": (lambda x: xp.linalg.pinv(x[:2]), "matrix", True),
    "linalg.qr": (lambda x: xp.linalg.qr(x).Q + xp.linalg.qr(x).R, "matrix", True),
    "linalg.slogdet": (lambda x: (xp.linalg.slogdet(x).sign, xp.linalg.slogdet(x).logabsdet), "matrix", True),
    "linalg.solve": (lambda x: xp.linalg.solve(x, xp.linalg.matrix_transpose(x[:2])), "matrix", True),
    "linalg.svd": (lambda x: (xp.linalg.svd(x).S, _gauge_free(xp.linalg.svd(x, full_matrices=False).U)),
                   "matrix", True),
    "linalg.svdvals": (lambda x: xp.linalg.svdvals(x), "matrix", True),
    "linalg.tensordot": (lambda x: xp.linalg.tensordot(x, x, axes=1), "matrix", True),
    "linalg.trace": (lambda x: xp.linalg.trace(x, offset=-1), "matrix", True),
    "linalg.vecdot": (lambda x: xp.linalg.vecdot(x, xp.flip(x, axis=1)), "matrix", True),
    "linalg.vector_norm": (lambda x: xp.linalg.vector_norm(x, axis=1, ord=3), "matrix", True),
    # fft
    "fft.fft": (lambda x: xp.fft.fft(x, n=5, norm="ortho"), "unit", True),
    "fft.ifft": (lambda x: xp.fft.ifft(x, axis=0), "unit", True),
    "fft.fftn": (lambda x: xp.fft.fftn(x, s=(2, 3), axes=(0, 1)), "unit", True),
    "fft.ifftn": (lambda x: xp.fft.ifftn(x, norm="forward"), "unit", True),
    "fft.rfft": (lambda x: xp.fft.rfft(x), "unit", False),
    "fft.irfft": (lambda x: xp.fft.irfft(x, n=6), "unit", True),
    "fft.rfftn": (lambda x: xp.fft.rfftn(x), "unit", False),
    "fft.irfftn": (lambda x: xp.fft.irfftn(x, s=(2, 4), axes=(0, 1)), "unit", True),
    "fft.hfft": (lambda x: xp.fft.hfft(x), "unit", True),
    "fft.ihfft": (lambda x: xp.fft.ihfft(x), "unit", False),
    "fft.fftshift": (lambda x: xp.fft.fftshift(x, axes=1), "unit", True),
    "fft.ifftshift": (lambda x: xp.fft.ifftshift(x), "unit", True),
}

# the rest: no array input to differentiate (creation from shapes or Python scalars, dtypes,
# inspection), or integer/boolean results (comparisons, predicates, indices, counts), or integer
# arithmetic (bitwise); from_dlpack hands over raw memory (a DLPack capsule carries no tape)
NOT_DIFFERENTIABLE = {
    "arange", "empty", "empty_like", "eye", "full_like", "linspace", "ones", "ones_like", "zeros",
    "zeros_like", "from_dlpack", "can_cast", "finfo", "iinfo", "isdtype", "result_type",
    "broadcast_shapes", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "equal", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "isfinite", "isinf", "isnan", "signbit", "logical_and", "logical_not",
    "logical_or", "logical_xor", "nextafter", "argmax", "argmin", "argsort", "count_nonzero",
    "nonzero", "searchsorted", "isin", "all", "any", "linalg.matrix_rank", "fft.fftfreq",
    "fft.rfftfreq", "__array_namespace_info__",
}


def _hermitian(x):
    """A Hermitian positive-definite matrix from any square ``x``."""
    return xp.matmul(x, xp.conj(xp.linalg.matrix_transpose(x))) + 3 * xp.eye(x.shape[0], dtype=x.dtype)


def _gauge_free(vectors):
    """``|v|^2`` elementwise: unchanged by the sign or phase each column is free to take."""
    return xp.real(vectors * xp.conj(vectors))


def _input(kind, dtype):
    rng = np.random.default_rng(7)
    shape = {"unit": (2, 4), "matrix": (3, 3), "vector3": (2, 3)}[kind]
    x = rng.uniform(0.2, 0.9, shape)
    if kind == "matrix":
        x = x + 2 * np.eye(3)
    if dtype == "complex128":
        x = x + 1j * rng.uniform(0.1, 0.5, shape)
    return x


def test_every_name_is_classified():
    """Each function of the namespace and its extensions is either gradient-checked or listed as
    not differentiable."""
    functions = {k for k, v in SIGNATURES.items()
                 if v is not None and ("." not in k or k.startswith(("linalg.", "fft.")))}
    assert functions - set(GRADIENTS) - NOT_DIFFERENTIABLE == set()
    assert set(GRADIENTS) & NOT_DIFFERENTIABLE == set()
    assert set(GRADIENTS) | NOT_DIFFERENTIABLE <= set(SIGNATURES)


@pytest.mark.parametrize("name,dtype", [(name, dtype) for name, (_, _, cplx) in GRADIENTS.items()
                                        for dtype in (("float64", "complex128") if cplx else ("float64",))])
def test_gradient_through_the_standard_name(name, dtype):
    f, kind, _ = GRADIENTS[name]
    assert gradcheck(f, _input(kind, dtype))       # tuples of outputs and complex ones included


# -------------------------------------------------------------------------------------- behaviour
def test_versions():
    x = xp.ones(2)
    assert x.__array_namespace__() is xp and x.__array_namespace__(api_version="2025.12") is xp
    for version in ("2021.12", "2022.12", "2023.12", "2024.12"):
        old = x.__array_namespace__(api_version=version)
        assert old.__array_api_version__ == "2024.12" and old.linalg is xp.linalg and old.add is xp.add
        assert type(old.broadcast_arrays(x, x)) is list and type(old.meshgrid(x, x)) is list
        assert type(old.__array_namespace_info__().devices()) is list
    assert type(xp.broadcast_arrays(x, x)) is tuple and type(xp.meshgrid(x, x)) is tuple
    assert type(xp.__array_namespace_info__().devices()) is tuple
    for bad in ("2020.10", "2026.12", "latest", 2024.12):
        with pytest.raises(ValueError):
            x.__array_namespace__(api_version=bad)


def test_inspection():
    info = xp.__array_namespace_info__()
    assert info.capabilities()["max dimensions"] == 64 and info.default_device() in info.devices()
    assert info.default_dtypes() == {"real floating": xp.float64, "complex floating": xp.complex128,
                                     "integral": xp.int64, "indexing": xp.int64}
    assert set(info.dtypes(kind=("bool", "complex floating"))) == {"bool", "complex64", "complex128"}


def test_finfo_fields_are_python_numbers():
    for dtype, real in ((xp.float32, np.float32), (xp.complex64, np.float32), (xp.complex128, np.float64)):
        fi = xp.finfo(dtype)
        assert all(type(getattr(fi, f)) is float for f in ("eps", "max", "min", "smallest_normal"))
        assert type(fi.bits) is int and fi.dtype == real and fi.eps == float(np.finfo(real).eps)
    assert xp.finfo(xp.ones(1, dtype=xp.float32)).bits == 32


def test_linalg_fixes():
    with pytest.raises(ValueError):
        xp.linalg.vecdot(xp.ones(3), xp.ones(1))
    with pytest.raises(ValueError):
        xp.vecdot(xp.ones((2, 3)), xp.ones((2, 1)), axis=-1)
    u8 = xp.asarray([1, 2, 3], dtype=xp.uint8)
    assert xp.linalg.vecdot(u8, u8).dtype == xp.uint8 and int(xp.linalg.vecdot(u8, u8)) == 14
    assert float(xp.linalg.tensordot(xp.ones((0, 0)), xp.ones((0, 0)))) == 0.0
    assert xp.tensordot(xp.ones((0, 2)), xp.ones((2, 0)), axes=1).shape == (0, 0)
    eig = xp.linalg.eig(xp.asarray([[2.0, 0.0], [0.0, 3.0]], dtype=xp.float32))
    assert eig.eigenvalues.dtype == xp.complex64 and eig.eigenvectors.dtype == xp.complex64
    assert xp.linalg.eigvals(xp.eye(2)).dtype == xp.complex128
    a = np.array([[1.0, 2.0], [-3.0, 1.0]])
    assert np.allclose(np.sort_complex(xp.linalg.eigvals(a).numpy()), np.sort_complex(np.linalg.eigvals(a)))


def test_cumulative_include_initial_on_an_empty_axis():
    for f, first in ((xp.cumulative_sum, 0.0), (xp.cumulative_prod, 1.0)):
        assert f(xp.ones(0), include_initial=True).numpy().tolist() == [first]
        assert f(xp.ones((2, 0)), axis=1, include_initial=True).shape == (2, 1)
        assert f(xp.ones((0, 3)), axis=0, include_initial=True).numpy().tolist() == [[first] * 3]


def test_2025_12_additions():
    assert xp.broadcast_shapes() == () and xp.broadcast_shapes((2, 1), (3,), ()) == (2, 3)
    with pytest.raises(ValueError):
        xp.broadcast_shapes((2,), (3,))
    assert xp.expand_dims(xp.ones((2, 3)), axis=(0, -1)).shape == (1, 2, 3, 1)
    assert xp.expand_dims(xp.ones((2, 3)), axis=(1, 3)).shape == (2, 1, 3, 1)
    with pytest.raises((IndexError, ValueError)):
        xp.expand_dims(xp.ones((2, 3)), axis=(0, 0))
    with pytest.raises(IndexError):
        xp.expand_dims(xp.ones((2, 3)), axis=(4,))
    assert xp.permute_dims(xp.ones((2, 3, 4)), (-1, 0, -2)).shape == (4, 2, 3)
    sorted_ = xp.asarray([1.0, 2.0, 3.0])
    out = xp.searchsorted(sorted_, 2.5)
    assert type(out) is ga.GradArray and out.shape == () and int(out) == 2
    assert int(xp.searchsorted(sorted_, 2, side="right")) == 2
    ints = xp.asarray([[1, 2], [3, 4]])
    assert xp.isin(ints, xp.asarray([2, 3])).numpy().tolist() == [[False, True], [True, False]]
    assert xp.isin(ints, 4, invert=True).numpy().tolist() == [[True, True], [True, False]]
    assert xp.isin(3, ints).shape == () and bool(xp.isin(3, ints))


def test_creation_and_reshape_copy():
    x = xp.asarray([1.0, 2.0])
    assert xp.asarray(x) is x and xp.asarray(x, copy=True) is not x
    with pytest.raises(ValueError):
        xp.reshape(xp.matrix_transpose(xp.ones((2, 3))), (6,), copy=False)
    assert xp.reshape(xp.ones((2, 3)), (3, 2), copy=False).shape == (3, 2)


def test_dlpack_keywords():
    x = xp.asarray([1.0, 2.0, 3.0])
    assert np.array_equal(np.from_dlpack(x), [1.0, 2.0, 3.0])
    assert np.array_equal(np.from_dlpack(x, copy=True), [1.0, 2.0, 3.0])
    assert x.__dlpack__(stream=None, max_version=(1, 0), dl_device=x.__dlpack_device__(), copy=False)
    assert np.array_equal(xp.from_dlpack(np.arange(3.0)).numpy(), [0.0, 1.0, 2.0])
