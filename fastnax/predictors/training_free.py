"""A training-free accuracy score from graph features alone, for when no trained record exists.

    score = log10(convolution weights on input-output paths) + 0.01 * mean_path_depth
            - 0.05 * mean_path_pools,
    and DEAD_SCORE (-100) for a network with no input-output path.

Why this form: capacity that can actually reach the output is the strongest single training-free
signal on NAS-Bench-201 (the weights of convolutions on input-output paths: |Spearman| 0.773 with
``c10valid_valid_200ep`` against 0.712 for the plain parameter count); pooling on the paths destroys
information (mean pools per path is the most harmful op statistic) and deeper paths help slightly.
The two coefficients were chosen on a coarse grid ({0.01, 0.02, 0.03, 0.05} × {0, 0.01, 0.03})
on the CIFAR-10 column ``c10valid_valid_200ep`` only (|Spearman| 0.898 over all 15,625 cells; the
held-out CIFAR-100 / ImageNet16-120 columns were not consulted). Dead networks (no input-output
path) sit at chance accuracy, so they score lowest.

Only convolution weights count. Fully-connected weights extract no features, and on the ``imc``
space counting them made the score prefer a single 1x1 stem convolution followed by a flattened
1024-wide classifier (the largest weight count for the least hardware) over every real CNN. The
NAS-Bench-201 classifier is the same for every cell, so leaving it out changes the NB201 ranking
only through rounding (|Spearman| 0.8982 with it, 0.8983 without).

On the ``imc`` space the same terms mean: more convolution weights and deeper paths score higher,
max-pooling scores slightly lower; every imc network is connected. The score has no unit: only its
ranking is meaningful (search uses the ranking).

On a noisy chip (:func:`analog_score`, ``nb201``): the same score minus ``NOISE_WEIGHT`` times
log10 of the noise-to-signal ratio at the logits (:func:`fastnax.robustness.noise_to_signal`).
``NOISE_WEIGHT`` = 0.5 was chosen on AnalogNAS-Bench's development columns ``analog_drift_86400``
and ``analog_accuracy`` (grid {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1}, the sum of their |Spearman|:
0.5 gives 0.802 / 0.715, 0.75 gives 0.805 / 0.710, 0 gives 0.760 / 0.694); the held-out columns
were not consulted.
"""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError

DEAD_SCORE = -100.0
WEIGHTS = {"log10_conv_params_effective": 1.0, "mean_path_depth": 0.01, "mean_path_pools": -0.05}
NOISE_WEIGHT = 0.5


class TrainingFreeScore:
    """Fit-free score (higher = better) over the graph feature matrix.

    ``predict(F)`` takes the matrix of ``fastnax.graph.features`` / ``features_from_vectors``
    (n, n_features) and returns (n,) scores; ``predict_archs(archs)`` computes the features first.
    ``fit`` exists for API symmetry with :class:`~fastnax.predictors.XGBPredictor` and learns nothing.
    """

    def __init__(self):
        from fastnax import graph

        names = graph.feature_names()
        self.feature_names_ = names
        self._columns = {name: names.index(name) for name in (*WEIGHTS, "dead")}

    def fit(self, X=None, y=None):
        return self

    def predict(self, F) -> np.ndarray:
        F = np.asarray(F, dtype=float)
        if F.ndim != 2 or F.shape[1] != len(self.feature_names_):
            raise BoundsError(f"TrainingFreeScore.predict takes the graph feature matrix (n, "
                              f"{len(self.feature_names_)}), got shape {F.shape}")
        score = sum(w * F[:, self._columns[name]] for name, w in WEIGHTS.items())
        return np.where(F[:, self._columns["dead"]] > 0, DEAD_SCORE, score)

    def predict_archs(self, archs) -> np.ndarray:
        from fastnax import graph

        return self.predict(graph.features(archs))

    def __repr__(self) -> str:
        return "TrainingFreeScore()"
