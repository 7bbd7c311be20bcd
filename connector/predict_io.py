"""Files of predictive scoring: saving and loading trained models, writing report artefacts.

A model file is a gzipped pickle (the scikit-learn estimators inside have no other portable form),
wrapped with a format tag and the library versions it was made with, so a file from another
version is refused with a message instead of failing somewhere deep in scikit-learn. Loading
a pickle runs code from the file: only load model files you (or your pipeline) trained.
"""

from __future__ import annotations

import contextlib
import gzip
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.errors import ConfigError, Problem

if TYPE_CHECKING:  # scikit-learn takes a second to import: only commands that train or load pay it
    from scoring.predict.train import TrainedModel

__all__ = ["MODEL_FORMAT", "save_model", "load_model", "write_bytes", "single_thread"]

MODEL_FORMAT = "leadscore-predict/1"


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {"sklearn": sklearn.__version__, "numpy": numpy.__version__}


def save_model(model: TrainedModel, path: Path) -> None:
    """Write atomically (temporary file beside the target, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    payload = {"format": MODEL_FORMAT, "versions": _versions(), "model": model}
    with gzip.open(tmp, "wb", compresslevel=6) as fh:  # trees compress ~4×
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def load_model(path: Path) -> TrainedModel:
    path = Path(path)
    if not path.exists():
        raise ConfigError([Problem(str(path), None, "", "model file not found",
                                   "train one with `leadscore train ... --out MODEL`")])
    try:
        with gzip.open(path, "rb") as fh:
            payload: Any = pickle.load(fh)  # noqa: S301 - our own model files, see module doc
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError,
            gzip.BadGzipFile) as exc:
        raise ConfigError([Problem(str(path), None, "", f"not a leadscore model file ({exc})",
                                   "train one with `leadscore train ... --out MODEL`")]) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ConfigError([Problem(str(path), None, "", "not a leadscore model file",
                                   f"expected format {MODEL_FORMAT}")])
    if payload.get("versions", {}).get("sklearn") != _versions()["sklearn"]:
        raise ConfigError([Problem(
            str(path), None, "",
            f"model was trained with scikit-learn {payload['versions'].get('sklearn')} but "
            f"{_versions()['sklearn']} is installed", "retrain the model with this version")])
    model = payload["model"]
    from scoring.predict.train import TrainedModel

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
