"""Built-in registry of well-known open model families: parameters and training tokens.

Parameter counts are the *nominal* sizes in the model names (as the tidy tables of
``data/`` use them); training tokens are those published by the model authors. Each entry cites
its source. ``lookup(name)`` returns ``None`` for unknown models; the readers then fall back to
the size written in the name (``"1.4b"``, ``"350m"``, BLOOM's ``"7b1"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A model family: name pattern, sizes (params by size tag), tokens, citation."""

    name: str
    pattern: str  # regex on the lower-cased model name; group "size" captures the size tag
    sizes: dict[str, float]
    tokens: float | dict[str, float] | None
    citation: str

    def tokens_for(self, tag: str) -> float | None:
        if isinstance(self.tokens, dict):
            return self.tokens.get(tag)
        return self.tokens


PYTHIA_SIZES = {"70m": 7e7, "160m": 1.6e8, "410m": 4.1e8, "1b": 1e9, "1.4b": 1.4e9,
                "2.8b": 2.8e9, "6.9b": 6.9e9, "12b": 1.2e10}
#: Pythia's batch is 1024 x 2048 tokens: tokens seen at step s are s * 2,097,152 (Pythia README).
PYTHIA_TOKENS_PER_STEP = 2_097_152
PYTHIA_FINAL_STEP = 143_000

FAMILIES: tuple[Family, ...] = (
    Family("Pythia-deduped", r"pythia-(?:v[\d.]+-)?(?P<size>[\d.]+[mb])-deduped", PYTHIA_SIZES,
           PYTHIA_FINAL_STEP * PYTHIA_TOKENS_PER_STEP,
           "Biderman et al. 2023, Pythia (ICML); github.com/EleutherAI/pythia README"),
    Family("Pythia", r"pythia-(?:v[\d.]+-)?(?P<size>[\d.]+[mb])(?!-deduped)", PYTHIA_SIZES,
           PYTHIA_FINAL_STEP * PYTHIA_TOKENS_PER_STEP,
           "Biderman et al. 2023, Pythia (ICML); github.com/EleutherAI/pythia README"),
    Family("OPT", r"opt-(?P<size>[\d.]+[mb])",
           {"125m": 1.25e8, "350m": 3.5e8, "1.3b": 1.3e9, "2.7b": 2.7e9, "6.7b": 6.7e9,
            "13b": 1.3e10, "30b": 3e10, "66b": 6.6e10, "175b": 1.75e11},
           180e9, "Zhang et al. 2022, OPT: Open Pre-trained Transformer Language Models "
           "(180B training tokens)"),
    Family("BLOOM", r"bloom-(?P<size>\d+[mb]\d*)",
           {"560m": 5.6e8, "1b1": 1.1e9, "1b7": 1.7e9, "3b": 3e9, "7b1": 7.1e9, "176b": 1.76e11},
           341e9, "BigScience 2022, BLOOM (arXiv:2211.05100); 341B tokens as used by Ruan et al. "
           "2024 (ObsScaling)"),
    Family("Llama-2", r"llama-2-(?P<size>\d+b)", {"7b": 7e9, "13b": 1.3e10, "70b": 7e10}, 2e12,
           "Touvron et al. 2023, Llama 2 (2T training tokens)"),
    Family("Llama", r"llama-(?P<size>\d+b)(?!.*llama-2)",
           {"7b": 7e9, "13b": 1.3e10, "30b": 3.25e10, "33b": 3.25e10, "65b": 6.52e10},
           {"7b": 1e12, "13b": 1e12, "30b": 1.4e12, "33b": 1.4e12, "65b": 1.4e12},
           "Touvron et al. 2023, LLaMA (1T tokens for 7B/13B, 1.4T for 33B/65B)"),
    Family("Falcon", r"falcon-(?P<size>\d+b)", {"7b": 7e9, "40b": 4e10, "180b": 1.8e11},
           {"7b": 1.5e12, "40b": 1e12, "180b": 3.5e12},
           "Almazrouei et al. 2023, The Falcon Series of Open Language Models"),
    Family("GPT-Neo/J", r"gpt-(?:neo|j)-(?P<size>[\d.]+[mb])",
           {"125m": 1.25e8, "1.3b": 1.3e9, "2.7b": 2.7e9, "6b": 6e9}, None,
           "EleutherAI GPT-Neo / GPT-J model cards (token counts differ per size; not given)"),
)


def lookup(model: str) -> tuple[Family, str] | None:
    """Find the family and size tag of a model name (case-insensitive), or ``None``."""
    name = model.lower()
    for fam in FAMILIES:
        m = re.search(fam.pattern, name)
        if m and m.group("size") in fam.sizes:
            return fam, m.group("size")
    return None


_SIZE_RE = re.compile(r"(?<![\d.])(?P<num>\d+(?:\.\d+)?)(?P<unit>[mbk])(?P<frac>\d)?(?![a-z])",
                      re.IGNORECASE)


def size_from_name(model: str) -> float | None:
    """Parameter count written in a model name: ``1.4b`` -> 1.4e9, ``350m``, BLOOM's ``7b1``."""
    found = list(_SIZE_RE.finditer(model))
    if not found:
        return None
    m = found[-1]  # the last size-like token wins ("pythia-v1.1-1b" -> "1b")
    num = float(m.group("num"))
    if m.group("frac"):
        num = float(f"{m.group('num')}.{m.group('frac')}")
    unit = {"k": 1e3, "m": 1e6, "b": 1e9}[m.group("unit").lower()]
    return num * unit
