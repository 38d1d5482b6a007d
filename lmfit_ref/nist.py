"""The NIST StRD nonlinear regression problems, with their certified answers.

NIST's Statistical Reference Datasets (StRD) hold 27 nonlinear
least-squares problems, each with data, two starting points (``Start 1``
far from the solution, ``Start 2`` nearer) and *certified* results computed
in 128-bit arithmetic and given to 11 significant digits: the best-fit
values ``b1..bP``, their standard deviations, and the residual sum of
squares (RSS). They are the standard external check of a least-squares
fitter: a fit agrees with NIST when its log relative error (LRE) is large,

    LRE(q) = -log10(|q - q_cert| / |q_cert|),  capped at 11 digits,

that is, when q and its certified value share about LRE leading digits.
LRE >= 6 on every value and LRE >= 4 on every standard deviation is the
customary bar.

The files are shipped inside the package (``lmfit_ref/data/nist_strd``, as
NIST distributes them) and parsed here. Each model is written out below
from the ``Model:`` section of its file, as a function ``model(b, x)`` of a
sequence of values ``b = (b1, ..., bP)``; ``Dataset.residual`` wraps it as a
residual over ``Parameters`` named ``b1..bP``, ready for ``minimize``.

One dataset differs in shape: ``Nelson`` has two predictors, so its ``x``
is an array of shape (2, N) (rows x1 and x2), and its model is a model of
``log(y)``, so its residual is ``log(y) - model``; the certified RSS is in
those units.

Notation
--------
b        parameter values b1..bP, a sequence of length P
x        predictor, shape (N,) (shape (2, N) for Nelson)
y        response, shape (N,)
RSS      residual sum of squares, sum(residual**2)
LRE      log relative error, defined above

Examples
--------
>>> ds = load("Misra1a")
>>> ds.nparams, len(ds.y), ds.difficulty
(2, 14, 'lower')
>>> params = ds.parameters(start=1)
>>> [(name, par.value) for name, par in params.items()]
[('b1', 500.0), ('b2', 0.0001)]

References: NIST StRD, https://www.itl.nist.gov/div898/strd/ (the data
files' headers give each dataset's origin).

Book: book/nist.md
"""
import math
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .parameters import Parameters

__all__ = ["NAMES", "Dataset", "load", "load_all", "lre", "MODELS"]

#: Digits NIST certifies; an LRE is never reported above this.
CERTIFIED_DIGITS = 11.0


# ---------------------------------------------------------------------------
# The models, one per dataset, each copied from its file's ``Model:`` block
# (shown in the comment). ``b`` is the sequence (b1, ..., bP): b[0] is b1.
# ---------------------------------------------------------------------------

def _misra1a(b, x):   # y = b1*(1-exp[-b2*x])
    return b[0] * (1.0 - np.exp(-b[1] * x))


def _chwirut(b, x):   # y = exp[-b1*x]/(b2+b3*x)
    return np.exp(-b[0] * x) / (b[1] + b[2] * x)


def _lanczos(b, x):   # y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)
    return b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-b[3] * x) + b[4] * np.exp(-b[5] * x)


def _gauss(b, x):     # y = b1*exp( -b2*x ) + b3*exp( -(x-b4)**2 / b5**2 )
    #                       + b6*exp( -(x-b7)**2 / b8**2 )
    return (b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-(x - b[3])**2 / b[4]**2)
            + b[5] * np.exp(-(x - b[6])**2 / b[7]**2))


def _danwood(b, x):   # y = b1*x**b2
    return b[0] * x**b[1]


def _misra1b(b, x):   # y = b1 * (1-(1+b2*x/2)**(-2))
    return b[0] * (1.0 - (1.0 + b[1] * x / 2.0)**(-2))


def _kirby2(b, x):    # y = (b1 + b2*x + b3*x**2) / (1 + b4*x + b5*x**2)
    return (b[0] + b[1] * x + b[2] * x**2) / (1.0 + b[3] * x + b[4] * x**2)


def _rational33(b, x):  # Hahn1, Thurber:
    #   y = (b1 + b2*x + b3*x**2 + b4*x**3) / (1 + b5*x + b6*x**2 + b7*x**3)
    return ((b[0] + b[1] * x + b[2] * x**2 + b[3] * x**3)
            / (1.0 + b[4] * x + b[5] * x**2 + b[6] * x**3))


def _nelson(b, x):    # log[y] = b1 - b2*x1 * exp[-b3*x2]
    return b[0] - b[1] * x[0] * np.exp(-b[2] * x[1])


def _mgh17(b, x):     # y = b1 + b2*exp[-x*b4] + b3*exp[-x*b5]
    return b[0] + b[1] * np.exp(-x * b[3]) + b[2] * np.exp(-x * b[4])


def _misra1c(b, x):   # y = b1 * (1-(1+2*b2*x)**(-.5))
    return b[0] * (1.0 - (1.0 + 2.0 * b[1] * x)**(-0.5))


def _misra1d(b, x):   # y = b1*b2*x*((1+b2*x)**(-1))
    return b[0] * b[1] * x / (1.0 + b[1] * x)


def _roszman1(b, x):  # y = b1 - b2*x - arctan[b3/(x-b4)]/pi
    return b[0] - b[1] * x - np.arctan(b[2] / (x - b[3])) / math.pi


def _enso(b, x):      # y = b1 + b2*cos( 2*pi*x/12 ) + b3*sin( 2*pi*x/12 )
    #                       + b5*cos( 2*pi*x/b4 ) + b6*sin( 2*pi*x/b4 )
    #                       + b8*cos( 2*pi*x/b7 ) + b9*sin( 2*pi*x/b7 )
    w0, w1, w2 = 2.0 * math.pi / 12.0, 2.0 * math.pi / b[3], 2.0 * math.pi / b[6]
    return (b[0] + b[1] * np.cos(w0 * x) + b[2] * np.sin(w0 * x)
            + b[4] * np.cos(w1 * x) + b[5] * np.sin(w1 * x)
            + b[7] * np.cos(w2 * x) + b[8] * np.sin(w2 * x))


def _mgh09(b, x):     # y = b1*(x**2+x*b2) / (x**2+x*b3+b4)
    return b[0] * (x**2 + x * b[1]) / (x**2 + x * b[2] + b[3])


def _thurber(b, x):
    return _rational33(b, x)


def _boxbod(b, x):    # y = b1*(1-exp[-b2*x])
    return b[0] * (1.0 - np.exp(-b[1] * x))


def _rat42(b, x):     # y = b1 / (1+exp[b2-b3*x])
    return b[0] / (1.0 + np.exp(b[1] - b[2] * x))


def _mgh10(b, x):     # y = b1 * exp[b2/(x+b3)]
    return b[0] * np.exp(b[1] / (x + b[2]))


def _eckerle4(b, x):  # y = (b1/b2) * exp[-0.5*((x-b3)/b2)**2]
    return (b[0] / b[1]) * np.exp(-0.5 * ((x - b[2]) / b[1])**2)


def _rat43(b, x):     # y = b1 / ((1+exp[b2-b3*x])**(1/b4))
    return b[0] / (1.0 + np.exp(b[1] - b[2] * x))**(1.0 / b[3])


def _bennett5(b, x):  # y = b1 * (b2+x)**(-1/b3)
    return b[0] * (b[1] + x)**(-1.0 / b[2])


#: Model function of each dataset, in NIST's order (lower, average, higher
#: difficulty, each alphabetical).
MODELS = {
    "Misra1a": _misra1a, "Chwirut2": _chwirut, "Chwirut1": _chwirut,
    "Lanczos3": _lanczos, "Gauss1": _gauss, "Gauss2": _gauss,
    "DanWood": _danwood, "Misra1b": _misra1b,
    "Kirby2": _kirby2, "Hahn1": _rational33, "Nelson": _nelson,
    "MGH17": _mgh17, "Lanczos1": _lanczos, "Lanczos2": _lanczos,
    "Gauss3": _gauss, "Misra1c": _misra1c, "Misra1d": _misra1d,
    "Roszman1": _roszman1, "ENSO": _enso,
    "MGH09": _mgh09, "Thurber": _thurber, "BoxBOD": _boxbod,
    "Rat42": _rat42, "MGH10": _mgh10, "Eckerle4": _eckerle4,
    "Rat43": _rat43, "Bennett5": _bennett5,
}

#: The 27 dataset names, in NIST's order of difficulty.
NAMES = tuple(MODELS)


@dataclass(frozen=True, eq=False)
class Dataset:
    """One StRD problem: data, starting points, certified results, model.

    Attributes
    ----------
    name : str
    difficulty : str
        ``'lower'``, ``'average'`` or ``'higher'``, as NIST rates it.
    model_text : str
        The ``Model:`` section of the file, verbatim.
    x : ndarray, shape (N,), or (2, N) for Nelson
    y : ndarray, shape (N,)
    starts : tuple of two ndarrays, shape (P,)
        ``Start 1`` and ``Start 2``.
    certified_values, certified_stderr : ndarray, shape (P,)
    certified_rss : float
        Residual sum of squares at the certified values.
    residual_sd : float
        ``sqrt(certified_rss / dof)``.
    dof : int
        N - P. (The file of Rat43 prints 9, a misprint: N - P is 11, and its
        residual standard deviation is ``sqrt(RSS / 11)``.)
    model : callable
        ``model(b, x) -> ndarray, shape (N,)``.
    """

    name: str
    difficulty: str
    model_text: str
    x: np.ndarray
    y: np.ndarray
    starts: tuple
    certified_values: np.ndarray
    certified_stderr: np.ndarray
    certified_rss: float
    residual_sd: float
    dof: int
    model: object

    @property
    def nparams(self):
        """Number of parameters P."""
        return len(self.certified_values)

    @property
    def names(self):
        """Parameter names ``('b1', ..., 'bP')``."""
        return tuple(f"b{i + 1}" for i in range(self.nparams))

    @property
    def args(self):
        """``(x, y)``: the ``args`` to pass to ``minimize`` with `residual`."""
        return (self.x, self.y)

    def parameters(self, start=1):
        """Fresh ``Parameters`` b1..bP at ``Start 1`` or ``Start 2`` (no bounds).

        Raises
        ------
        ValueError
            If `start` is not 1 or 2.
        """
        if start not in (1, 2) or isinstance(start, bool):
            raise ValueError(f"{self.name}: start must be 1 or 2, got {start!r}")
        params = Parameters()
        for name, value in zip(self.names, self.starts[start - 1]):
            params.add(name, value=float(value))
        return params

    def residual(self, params, x, y):
        """``y - model(b, x)`` (``log(y) - model`` for Nelson), b read from `params`.

        The function to give ``minimize``, with ``args=dataset.args``:

        >>> import lmfit_ref
        >>> ds = load("Misra1a")
        >>> params = ds.parameters(start=2)
        >>> fit = lmfit_ref.minimize(ds.residual, params, args=ds.args)
        >>> lre(params["b1"].value, ds.certified_values[0]) > 6
        True
        """
        b = [params[name].value for name in self.names]
        if self.name == "Nelson":
            y = np.log(y)
        # A trial step far from the data can overflow the model (an exp of a
        # large argument): the residual is then inf or NaN, without a
        # warning, and the fit rejects the step.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return y - self.model(b, x)

    def rss(self, values):
        """Residual sum of squares at the values `values` (a sequence b1..bP)."""
        observed = np.log(self.y) if self.name == "Nelson" else self.y
        r = observed - self.model(values, self.x)
        return float(r @ r)


def lre(found, certified, digits=CERTIFIED_DIGITS):
    """Log relative error ``-log10(|found - certified| / |certified|)``, capped at `digits`.

    0 when `found` is not finite (or None) or is off by the certified value
    or more: no digit agrees.

    >>> lre(1.0000001, 1.0) > 6.99, lre(1.0, 1.0), lre(float('nan'), 2.0), lre(5.0, 2.0)
    (True, 11.0, 0.0, 0.0)
    """
    if found is None or not math.isfinite(found):
        return 0.0
    error = abs(found - certified)
    if error == 0.0:
        return digits
    relative = error / abs(certified)
    return float(min(digits, max(0.0, -math.log10(relative))))


# ---------------------------------------------------------------------------
# Parsing the files
# ---------------------------------------------------------------------------

_PARAM_LINE = re.compile(r"^\s*b(\d+)\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def _number_after(label, lines):
    for line in lines:
        if line.startswith(label):
            return float(line.split(":", 1)[1])
    raise ValueError(f"no line starting with {label!r}")


def _parse(name, text):
    lines = text.splitlines()
    header = lines[:60]
    difficulty = next(line.split()[0].lower() for line in header
                      if "Level of Difficulty" in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("Model:"))
    stop = next(i for i, line in enumerate(lines)
                if i > start and "Starting" in line and "Certified" in line)
    model_text = "\n".join(line.rstrip() for line in lines[start:stop]).strip()
    rows = [m.groups() for m in map(_PARAM_LINE.match, header) if m]
    if [int(r[0]) for r in rows] != list(range(1, len(rows) + 1)):
        raise ValueError(f"{name}: parameter lines are not b1..bP in order")
    table = np.array([[float(v) for v in r[1:]] for r in rows])
    data_at = [i for i, line in enumerate(lines) if line.startswith("Data:")][1]
    data = np.array([[float(v) for v in line.split()]
                     for line in lines[data_at + 1:] if line.strip()])
    nobs = int(_number_after("Number of Observations:", header))
    if len(data) != nobs:
        raise ValueError(f"{name}: {len(data)} data rows, the header says {nobs}")
    y = data[:, 0]
    x = data[:, 1:].T.copy() if data.shape[1] > 2 else data[:, 1].copy()
    return Dataset(
        name=name, difficulty=difficulty, model_text=model_text, x=x, y=y.copy(),
        starts=(table[:, 0].copy(), table[:, 1].copy()),
        certified_values=table[:, 2].copy(), certified_stderr=table[:, 3].copy(),
        certified_rss=_number_after("Residual Sum of Squares:", header),
        residual_sd=_number_after("Residual Standard Deviation:", header),
        dof=nobs - len(rows),
        model=MODELS[name])


def load(name):
    """The dataset `name` (one of `NAMES`, case as NIST spells it).

    Raises
    ------
    KeyError
        For a name that is not one of the 27, listing them.
    """
    if name not in MODELS:
        raise KeyError(f"no NIST StRD dataset {name!r}; the datasets are {', '.join(NAMES)}")
    text = resources.files(__package__).joinpath("data", "nist_strd", f"{name}.dat").read_text()
    return _parse(name, text)


def load_all():
    """All 27 datasets, in the order of `NAMES`."""
    return [load(name) for name in NAMES]
