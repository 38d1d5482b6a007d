"""Text reports of fit results, in the manual's format (text only, no computation).

`report_errors` prints one line per parameter, then the correlations::

      a:      0.09992+/- 0.00019 (initial= 0.100000)
      b:      2.00189+/- 0.01196 (initial= 1.000000)
    Correlations:
      C(a, b)                                = 0.601

Varying parameters show ``value+/- stderr (initial= ...)`` (the manual's
spacing, ``+/-`` against the value), fixed ones ``(fixed)``, constrained
ones ``== 'expr'``. A stderr that was not estimated prints as
``(not estimated)``. Correlations are listed once per pair, largest
magnitude first.

Book: book/uncertainties.md
"""

__all__ = ["format_errors", "report_errors", "format_ci", "report_ci"]


def _number(x, fmt):
    return "None" if x is None else format(x, fmt)


def format_errors(params, modelpars=None, show_correl=True, min_correl=0.1):
    """The text `report_errors` prints, as a string (no trailing newline).

    Parameters
    ----------
    params : Parameters
        Usually after a fit.
    modelpars : Parameters, optional
        Known true values (for a fit to simulated data), printed as
        ``model_value=``.
    show_correl : bool
        Append the correlations of the varying parameters.
    min_correl : float
        Leave out correlations smaller than this in magnitude.

    Examples
    --------
    >>> from lmfit_ref import Parameters
    >>> p = Parameters()
    >>> p.add('a', value=0.1)
    >>> p.add('b', value=2.0, vary=False)
    >>> p['a']._value, p['a'].stderr = 0.09992, 0.00019  # as a fit leaves them
    >>> print(format_errors(p))
      a:      0.09992+/- 0.00019 (initial= 0.100000)
      b:      2.00000 (fixed)
    """
    # deviation: min_correl is an addition to the manual's signature; the
    # manual's 4.2 prints "inital=" in one listing, "initial=" is used here.
    width = max((len(name) for name in params), default=0) + 1
    lines = []
    for name, par in params.items():
        head = f"  {name + ':':<{width}} {_number(par.value, '12.5f'):>12}"
        if par.expr is not None:
            err = "" if par.stderr is None else f"+/- {par.stderr:.5f}"
            lines.append(f"{head}{err} == '{par.expr}'")
        elif not par.vary:
            lines.append(f"{head} (fixed)")
        else:
            err = "(not estimated)" if par.stderr is None else f"{par.stderr:.5f}"
            extra = ""
            if modelpars is not None and name in modelpars:
                extra = f", model_value= {_number(modelpars[name].value, 'f')}"
            lines.append(f"{head}+/- {err} (initial= {_number(par.init_value, 'f')}{extra})")
    if show_correl:
        position = {name: i for i, name in enumerate(params)}
        pairs, seen = [], set()
        for name, par in params.items():
            for other, c in (par.correl or {}).items():
                # each pair once, named in the order of the parameters
                a, b = sorted((name, other), key=lambda n: position.get(n, len(position)))
                if (a, b) not in seen and abs(c) >= min_correl:
                    seen.add((a, b))
                    pairs.append((a, b, c))
        if pairs:
            lines.append("Correlations:")
            pad = max(39, max(len(f"C({a}, {b})") + 1 for a, b, _ in pairs))
            for a, b, c in sorted(pairs, key=lambda t: -abs(t[2])):
                lines.append(f"  {f'C({a}, {b})':<{pad}}= {c:.3f}")
    return "\n".join(lines)


def report_errors(params, modelpars=None, show_correl=True, min_correl=0.1):
    """Print the best-fit values, standard errors and correlations (manual 4.2).

    Takes the arguments of `format_errors`, whose text it prints.
    """
    print(format_errors(params, modelpars=modelpars, show_correl=show_correl,
                        min_correl=min_correl))


def format_ci(ci):
    """The text `report_ci` prints, as a string (no trailing newline).

    One header of probabilities, then a row of limits per parameter, in the
    manual's 4.2 layout: lower limits from the largest probability down, the
    best value under ``0.00%``, then the upper limits.

    >>> print(format_ci({'a': [(0.95, 0.09916), (0.0, 0.09992), (0.95, 0.10069)]}))
            95.00%    0.00%   95.00%
     a   0.09916  0.09992  0.10069
    """
    if not ci:
        return ""
    width = max(len(name) for name in ci) + 1
    # Columns at least 9 wide (the manual's), wider if a value needs it.
    column = max([9] + [len(f"{value:.5f}") + 1 for row in ci.values() for _, value in row])
    lines = []
    header = None
    for name, row in ci.items():
        this = "".join(f"{100 * prob:.2f}%".rjust(column) for prob, _ in row)
        if this != header:  # the manual repeats it when the levels change
            lines.append(" " * width + this)
            header = this
        lines.append(f"{name:>{width}}" + "".join(f"{value:.5f}".rjust(column) for _, value in row))
    return "\n".join(lines)


def report_ci(ci):
    """Print the confidence intervals of `conf_interval` in the manual's format (4.2)."""
    print(format_ci(ci))
