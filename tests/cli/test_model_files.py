"""Model files that survive upgrades: a skops archive that loads without running code from the
file, across scikit-learn versions (with a warning across minor versions); the older pickle format
still loads on the same version and says to retrain otherwise."""

from __future__ import annotations

import gzip
import logging
import pathlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connector.predict_io import MODEL_FORMAT, _versions, load_model, save_model
from scoring.errors import ConfigError
from tests.predict.conftest import synthetic_history


@pytest.fixture(scope="module")
def trained() -> Any:
    from connector.predict_io import single_thread
    from scoring.predict.train import train

    with single_thread(1):  # OpenMP threads fighting other work are ten times slower
        return train(synthetic_history(400), "Converted", drop=("id",), kinds=("logistic", "gbm"), folds=2, seed=0)


def test_round_trip_is_a_zip_archive_not_a_pickle(trained: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    save_model(trained, path)
    assert zipfile.is_zipfile(path)
    back = load_model(path)
    table = synthetic_history(100, seed=5)
    assert np.array_equal(back.probability(table), trained.probability(table))
    assert back.version == trained.version and back.tier_cuts == trained.tier_cuts


def _dump(payload: dict[str, Any], path: Path) -> None:
    import skops.io

    skops.io.dump(payload, path)


def test_another_minor_version_loads_with_a_warning(trained: Any, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "old.pkl"
    _dump({"format": MODEL_FORMAT, "versions": {"sklearn": "1.0.2", "numpy": "1.26.0"}, "model": trained}, path)
    with caplog.at_level(logging.WARNING, logger="connector.predict_io"):
        back = load_model(path)
    assert back.kind == trained.kind
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} was trained with scikit-learn 1.0.2 and {_versions()['sklearn']} is installed: it loads, but its "
        "predictions could differ slightly; retrain to be sure"]
    caplog.clear()
    same_minor = ".".join([*_versions()["sklearn"].split(".")[:2], "99"])
    _dump({"format": MODEL_FORMAT, "versions": {"sklearn": same_minor}, "model": trained}, path)
    with caplog.at_level(logging.WARNING, logger="connector.predict_io"):
        load_model(path)
    assert caplog.records == []  # a patch release: nothing to warn about


def test_a_file_with_other_types_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    _dump({"format": MODEL_FORMAT, "versions": _versions(), "model": pathlib.PurePosixPath("/etc")}, path)
    with pytest.raises(ConfigError, match="holds types leadscore does not load: pathlib.PurePosixPath"):
        load_model(path)


def test_the_older_pickle_format(trained: Any, tmp_path: Path) -> None:
    path = tmp_path / "v1.pkl"
    with gzip.open(path, "wb") as fh:
        pickle.dump({"format": "leadscore-predict/1", "versions": _versions(), "model": trained}, fh)
    assert load_model(path).kind == trained.kind
    with gzip.open(path, "wb") as fh:
        pickle.dump({"format": "leadscore-predict/1", "versions": {"sklearn": "0.24.0"}, "model": trained}, fh)
    with pytest.raises(ConfigError, match="retrain the model: the new format loads across versions"):
        load_model(path)
