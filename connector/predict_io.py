"""Files of predictive scoring: saving and loading trained models, writing report artefacts.

A model file is a skops archive (``leadscore-predict/2``): the estimators' fitted attributes as
data, not a pickle, so it loads under later scikit-learn patch and minor versions, and loading
runs no code from the file (only types leadscore trusts are rebuilt: its own model classes and
scikit-learn's, NumPy's and SciPy's). A file made with another scikit-learn minor or major
version loads with a warning, since predictions could differ slightly; retraining removes it.
Files of the earlier format (a gzipped pickle, ``leadscore-predict/1``) still load when the
scikit-learn version matches exactly; otherwise the message says to retrain.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.errors import ConfigError, Problem

if TYPE_CHECKING:  # scikit-learn takes a second to import: only commands that train or load pay it
    from scoring.predict.train import TrainedModel

__all__ = ["MODEL_FORMAT", "save_model", "load_model", "write_bytes", "single_thread"]

MODEL_FORMAT = "leadscore-predict/2"
_PICKLE_FORMAT = "leadscore-predict/1"
#: the only types a model file may rebuild: ours and the numerical libraries' (never os, subprocess, ...)
_TRUSTED_PREFIXES = ("scoring.predict.", "sklearn.", "numpy.", "scipy.")
_TRUSTED_TYPES = {"functools.partial", "builtins.slice"}
log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {"sklearn": sklearn.__version__, "numpy": numpy.__version__}


def save_model(model: TrainedModel, path: Path) -> None:
    """Write atomically (temporary file beside the target, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    import skops.io

    payload = {"format": MODEL_FORMAT, "versions": _versions(), "model": model}
    skops.io.dump(payload, tmp, compression=8)  # ZIP_DEFLATED: trees compress ~4×
    tmp.replace(path)


def load_model(path: Path) -> TrainedModel:
    path = Path(path)
    if not path.exists():
        raise ConfigError([Problem(str(path), None, "", "model file not found",
                                   "train one with `leadscore train ... --out MODEL`")])
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"PK":
        return _load_skops(path)
    try:
        with gzip.open(path, "rb") as fh:
            payload: Any = pickle.load(fh)  # noqa: S301 - our own model files, see module doc
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError,
            gzip.BadGzipFile) as exc:
        raise ConfigError([Problem(str(path), None, "", f"not a leadscore model file ({exc})",
                                   "train one with `leadscore train ... --out MODEL`")]) from None
    if not isinstance(payload, dict) or payload.get("format") != _PICKLE_FORMAT:
        raise ConfigError([Problem(str(path), None, "", "not a leadscore model file",
                                   f"expected format {MODEL_FORMAT}")])
    if payload.get("versions", {}).get("sklearn") != _versions()["sklearn"]:
        raise ConfigError([Problem(
            str(path), None, "",
            f"model was trained with scikit-learn {payload['versions'].get('sklearn')} but "
            f"{_versions()['sklearn']} is installed, and this older model format only loads with the same "
            "version", "retrain the model: the new format loads across versions")])
    model = payload["model"]
    from scoring.predict.train import TrainedModel

    if not isinstance(model, TrainedModel):
        raise ConfigError([Problem(str(path), None, "", "model file holds no trained model")])
    return model


def _load_skops(path: Path) -> TrainedModel:
    import zipfile

    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES) and t not in _TRUSTED_TYPES]
        if refused:
            raise ConfigError([Problem(str(path), None, "", "the model file holds types leadscore does not load: "
                                       + ", ".join(refused), "only load model files from `leadscore train`")])
        payload: Any = skops.io.load(path, trusted=untrusted)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, ImportError, OSError) as exc:
        raise ConfigError([Problem(str(path), None, "", f"not a leadscore model file ({type(exc).__name__}: {exc})",
                                   "train one with `leadscore train ... --out MODEL`")]) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ConfigError([Problem(str(path), None, "", "not a leadscore model file",
                                   f"expected format {MODEL_FORMAT}")])
    made, now = str(payload.get("versions", {}).get("sklearn")), _versions()["sklearn"]
    if made.split(".")[:2] != now.split(".")[:2]:
        log.warning("%s was trained with scikit-learn %s and %s is installed: it loads, but its predictions "
                    "could differ slightly; retrain to be sure", path, made, now,
                    extra={"model_sklearn": made, "sklearn": now})
    from scoring.predict.train import TrainedModel

    model = payload["model"]
    if not isinstance(model, TrainedModel):
        raise ConfigError([Problem(str(path), None, "", "model file holds no trained model")])
    return model


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)


@contextlib.contextmanager
def single_thread(threads: int = 1) -> Iterator[None]:
    """Limit OpenMP/BLAS threads while training.

    The models are small, and on a busy machine OpenMP's spinning threads make
    HistGradientBoosting ten times slower (measured: 1.8 s alone vs 26 s with two threads
    fighting other work on a 2-core box), so one thread is the safe default.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield
