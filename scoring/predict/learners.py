"""The learners leadscore trains, each a small wrapper with ``fit`` / ``probability``.

- ``logistic``: an interpretable regularised logistic model. Categories are one-hot coded;
  numbers are log-scaled and expanded into splines (an additive, smooth effect per field, so
  "time on site" can matter a lot up to a point and then stop mattering) with a missing flag.
- ``gbm``: gradient-boosted trees (scikit-learn's HistGradientBoosting) with native
  categorical splits and missing values; small trees, slow learning and feature subsampling,
  which on CRM-sized tables (thousands of rows) beat the defaults by 0.003-0.004 AUC.
- ``trees``: extremely randomised trees on one-hot categories; weaker alone, but its errors
  differ from boosting's.
- ``ensemble``: a weighted mean of the three (``ENSEMBLE_WEIGHTS``). The weights were chosen
  on X Education cross-validation (0.7 / 0.2 / 0.1 beat boosting alone by 0.001 AUC there,
  and equal weights did worse than boosting alone); they are fixed, not fitted per table.

Each takes the float matrix of :func:`scoring.predict.dataset.encode` (NaN = missing,
categories as integer codes), so the two see exactly the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer

from .dataset import FeatureSchema

__all__ = ["KINDS", "ENSEMBLE_WEIGHTS", "Learner", "blend", "make_learner"]

KINDS = ("logistic", "gbm", "trees", "ensemble")
ENSEMBLE_WEIGHTS = {"gbm": 0.7, "trees": 0.2, "logistic": 0.1}


def _signed_log(x: np.ndarray) -> np.ndarray:
    """log1p that keeps the sign: counts and durations are skewed; a few are negative."""
    return np.sign(x) * np.log1p(np.abs(x))


def _missing_as_code(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), -1.0, x)


def _logistic(schema: FeatureSchema, seed: int) -> Pipeline:
    numeric = [i for i, f in enumerate(schema.features) if f.is_numeric]
    categorical = [i for i, f in enumerate(schema.features) if not f.is_numeric]
    parts: list[tuple[str, Any, list[int]]] = []
    if numeric:
        parts.append(("numeric", make_pipeline(
            FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            SplineTransformer(n_knots=10, degree=3, knots="quantile", extrapolation="constant"),
        ), numeric))
    if categorical:
        parts.append(("categorical", make_pipeline(
            FunctionTransformer(_missing_as_code, feature_names_out="one-to-one"),
            OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist"),
        ), categorical))
    return make_pipeline(ColumnTransformer(parts),
                         LogisticRegression(C=0.3, max_iter=1000, solver="newton-cholesky"))


def _gbm(schema: FeatureSchema, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        categorical_features=schema.categorical_mask,
        learning_rate=0.03, max_iter=500, max_leaf_nodes=8, min_samples_leaf=20,
        l2_regularization=1.0, max_features=0.5, early_stopping=False, random_state=seed,
    )


def _trees(schema: FeatureSchema, seed: int) -> Pipeline:
    numeric = [i for i, f in enumerate(schema.features) if f.is_numeric]
    categorical = [i for i, f in enumerate(schema.features) if not f.is_numeric]
    parts: list[tuple[str, Any, list[int]]] = []
    if numeric:
        parts.append(("numeric", SimpleImputer(strategy="constant", fill_value=-1.0,
                                               add_indicator=True, keep_empty_features=True),
                      numeric))
    if categorical:
        parts.append(("categorical", make_pipeline(
            FunctionTransformer(_missing_as_code, feature_names_out="one-to-one"),
            OneHotEncoder(min_frequency=20, handle_unknown="infrequent_if_exist",
                          sparse_output=False),
        ), categorical))
    return make_pipeline(ColumnTransformer(parts), ExtraTreesClassifier(
        n_estimators=100, min_samples_leaf=3, max_features="sqrt", n_jobs=1, random_state=seed))


_BUILD = {"logistic": _logistic, "gbm": _gbm, "trees": _trees}


@dataclass
class Learner:
    """One trained (or trainable) model over encoded feature matrices."""

    kind: str
    schema: FeatureSchema
    seed: int = 0
    estimators: list[Any] = field(default_factory=list)

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(ENSEMBLE_WEIGHTS) if self.kind == "ensemble" else (self.kind,)

    def fit(self, x: np.ndarray, y: np.ndarray) -> Learner:
        self.estimators = [_BUILD[k](self.schema, self.seed).fit(x, y) for k in self.members]
        return self

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(converted) for each row."""
        if not self.estimators:
            raise RuntimeError(f"the {self.kind} learner has not been fitted")
        parts = {k: e.predict_proba(x)[:, 1] for k, e in zip(self.members, self.estimators,
                                                               strict=True)}
        return blend(parts) if self.kind == "ensemble" else parts[self.kind]

    def logit(self, x: np.ndarray) -> np.ndarray:
        p = np.clip(self.probability(x), 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p))


def blend(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The ensemble's probability from its members' probabilities."""
    return sum((w * parts[k] for k, w in ENSEMBLE_WEIGHTS.items()), np.zeros_like(parts["gbm"]))


def make_learner(kind: str, schema: FeatureSchema, seed: int = 0) -> Learner:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind '{kind}'; use one of {', '.join(KINDS)}")
    return Learner(kind, schema, seed)
