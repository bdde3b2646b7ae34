"""Is a column right? The sheet's values against a rule's finite expectation, within the
tolerance its numerics allow."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workbook_builder.check.netmodel import Model
from workbook_builder.network.reference import Array, Values

RTOL, ATOL = 1e-9, 1e-15



def mismatches(got: Array, expected: Array, scale: Array | None = None
               ) -> npt.NDArray[np.bool_]:
    """Rows where the sheet disagrees with a finite expectation (a value that is not a finite
    number disagrees with every one). Rows whose expectation is not finite are not judged
    here: check_column reports them as not checked, never as right.

    Without ``scale`` the tolerance is relative to the expectation; with it (netmodel's
    error_scale: the size of what the formula combines, ≥ its value) relative to that, so a
    result that cancels (½(t − a)² near its target, −LN(a) of a near-certain output) is
    judged by how far rounding can move it, not by its own tiny size."""
    with np.errstate(invalid="ignore"):
        if scale is None:
            close = np.isclose(got, expected, rtol=RTOL, atol=ATOL)
        else:
            close = np.abs(got - expected) <= RTOL * np.abs(scale) + ATOL
        bad = ~close | ~np.isfinite(got)
    return bad & np.isfinite(expected)



def expect(model: Model, name: str, data: dict[str, Array], n: int,
           rename: dict[str, str] | None = None) -> tuple[Array, Array | None, Values]:
    """``name``'s rule on a run's values: the expectation, its tolerance scale and the
    Values read (which names the rule used)."""
    probe = model.values(data, n, rename)
    expected = model.rules[name](probe)
    return expected, model.scale(name, model.values(data, n, rename)), probe



Mask = npt.NDArray[np.bool_]
