"""Reading a header or label as a person does: lookalike characters, separators, spellings."""

from __future__ import annotations

import re
import unicodedata

#: characters typed for ∂ and η that NFKC leaves alone (it already maps 𝜕 to ∂ and 𝜂 to η)
CONFUSABLES = str.maketrans({"ð": "∂", "Ә": "∂", "ә": "∂", "ɳ": "η", "ƞ": "η"})
_SEPARATORS = re.compile(r"[\s_\-.:=()\[\]{},;'\"`*]+")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), name) for p, name in (
    (r"(?:∂|d)?e(?:total|tot|t)?/?(?:∂|d)w([1-8])", "∂E/∂w{}"),  # ∂E/∂w1, dEt/dw1, E∂w1
    (r"(?:grad|g)w([1-8])", "∂E/∂w{}"),
    (r"w([1-8])", "w{}"),
    (r"(?:a|out|output)h([12])", "a_h{}"),
    (r"(?:a|out|output)[o0]([12])", "a_o{}"),  # the letter O typed as the digit 0: a_02
    (r"(?:net|z)?h([12])", "h{}"),
    (r"(?:net|z)?o([12])|(?:net|z)0([12])", "o{}"),
    (r"(?:δ|delta)h([12])", "δ_h{}"),
    (r"(?:δ|delta)[o0]([12])", "δ_o{}"),
    (r"e[o0]?([12])", "E{}"),
    (r"e|etotal|etot|error|totalerror|errortotal|loss", "E_total"),
    (r"(?:i|input|x)([12])", "i{}"),
    (r"(?:t|target|y)([12])", "t{}"),
    (r"(?:b|bias)([12])", "b{}"),
    (r"epochs?|iterations?|iter|steps?|n|#", "epoch"),
))
_ETA = re.compile(r"^(?:η|eta|lr|learningrate|alpha|α)")


def canonical(text: str) -> str:
    """NFKC, the confusables, lower case, no separators: ``ðE_t / ðw1`` -> ``∂et/∂w1``."""
    s = unicodedata.normalize("NFKC", text).translate(CONFUSABLES).lower()
    return _SEPARATORS.sub("", s)


def normalise(text: object) -> str | None:
    """A header or label as the quantity it names (``E-total`` -> ``E_total``), or None."""
    if not isinstance(text, str) or text.startswith("="):
        return None
    s = canonical(text)
    for pattern, name in _PATTERNS:
        if m := pattern.fullmatch(s):
            digits = [g for g in m.groups() if g]
            return name.format(*digits)
    return "η" if _ETA.match(s) else None
