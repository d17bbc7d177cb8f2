"""Bundled real datasets (published figures, with citations in ``data/README.md``).

>>> import emergence as em
>>> table = em.datasets.load("obsscaling_emergent")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .data import ScoreTable, load_scores
from .errors import EmergenceDataError

EMERGENT_TASKS = ("arithmetic_2da", "arithmetic_2dm", "arithmetic_3da", "arithmetic_3ds",
                  "word_unscrambling", "ipa_transliterate", "parsinlu_qa")
#: ObsScaling families with at least 4 sizes that were evaluated on the emergent tasks.
EMERGENT_FAMILIES = ("OPT", "Pythia", "Qwen1.5", "GPT-Neo/J", "Qwen2")
BBH_FAMILIES = ("Pythia", "OPT", "Qwen1.5", "GPT-Neo/J", "StarCoder", "BLOOM", "CodeLlama",
                "XGLM", "Llama")

_FILES = {
    "obsscaling": "obsscaling_ruan2024.csv",
    "obsscaling_emergent": "obsscaling_ruan2024.csv",
    "bbh": "obsscaling_ruan2024.csv",
    "pythia_opt_bloom": "pythia_opt_bloom_lmeval.csv",
}
_SELECTIONS: dict[str, dict[str, Any]] = {
    "obsscaling": {},
    "obsscaling_emergent": {"task": list(EMERGENT_TASKS), "family": list(EMERGENT_FAMILIES)},
    "bbh": {"task": "bbh/*", "setting": "cot;flexible-extract", "family": list(BBH_FAMILIES)},
    "pythia_opt_bloom": {},
}
DESCRIPTIONS = {
    "obsscaling": "ObsScaling (Ruan et al. 2024): 148 base models, 47 families, all tasks.",
    "obsscaling_emergent": "ObsScaling emergent tasks (GPT-3 arithmetic, word_unscrambling, "
    "ipa_transliterate exact match + BLEU, parsinlu_qa), families with >= 5 sizes.",
    "bbh": "ObsScaling BIG-Bench Hard subtasks, CoT prompting, flexible extraction.",
    "pythia_opt_bloom": "Pythia/OPT/BLOOM lm-eval-harness results (Biderman et al. 2023).",
}


def data_dir() -> Path:
    """Folder holding the bundled data (installed package, or the source tree's ``data/``)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "_bundled_data", here.parent.parent / "data"):
        if (cand / "obsscaling_ruan2024.csv").exists():
            return cand
    raise FileNotFoundError(
        "the bundled data folder is missing; reinstall emergence-bayes (pip install "
        "emergence-bayes) or run from a source checkout that has data/."
    )


def names() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_FILES)


def path(name: str) -> Path:
    """Path of the file behind a dataset name."""
    if name not in _FILES:
        raise EmergenceDataError(f"unknown dataset {name!r}; available: {', '.join(names())}.")
    return data_dir() / _FILES[name]


def load(name: str, scale: str = "params", **select: Any) -> ScoreTable:
    """Load a bundled dataset as a validated :class:`~emergence.data.ScoreTable`.

    Parameters
    ----------
    name : str
        One of :func:`names` (see :data:`DESCRIPTIONS`).
    scale : {"params", "flops"}
        Scale axis.
    **select
        Further selection (task, metric, family, shots, setting, model, checkpoints),
        overriding the dataset's default selection.
    """
    p = path(name)
    sel = {**_SELECTIONS[name], **select}
    table = load_scores(p, scale=scale, **sel)
    return table
