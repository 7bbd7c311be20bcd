"""Predictive scoring: learn conversion from history, judge it, export it as a scorecard.

Pure functions over in-memory tables (no files, no clock). The modules, in the order data
flows through them:

- :mod:`.dataset`   table → target, feature kinds (numeric / categorical), encoded matrix
- :mod:`.learners`  the logistic model, boosted trees and their ensemble
- :mod:`.train`     out-of-sample evaluation (k-fold or time-ordered holdout), choose, refit
- :mod:`.metrics`   AUC, log loss, Brier, lift, conversion by decile and tier, calibration
- :mod:`.explain`   per-lead probability, tier and top factors (the write-back output)
- :mod:`.scorecard` bins and integer points → a scoring-model YAML; :mod:`.export` checks it
- :mod:`.backtest`  replay a rules model over history; compare two models

scikit-learn is needed here (the ``predict`` extra); the rest of :mod:`scoring` does not use it.
"""

__all__: list[str] = []
