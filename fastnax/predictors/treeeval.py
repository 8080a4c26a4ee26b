"""Pure-NumPy inference of a saved XGBoost JSON model.

Importing xgboost costs about 0.7 s on the reference machine (it pulls in scikit-learn), more than
the whole budget of a ``fastnax search``. A fitted gradient-boosted forest is only arrays of split
features, thresholds and leaf values, so the search loads XGBoost's own JSON model file and walks
the trees here, vectorized over the batch: one gather per tree level, no Python loop over rows.
The tests hold this evaluator equal to ``xgboost.Booster.predict`` on the same file.

Supported: ``gbtree`` boosters with numerical splits and the ``reg:squarederror``,
``reg:pseudohubererror``, ``reg:absoluteerror`` and ranking objectives (identity link). Anything
else raises :class:`~fastnax.errors.PredictorFileError` and the caller falls back to xgboost.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fastnax.errors import PredictorFileError

IDENTITY_OBJECTIVES = ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror",
                       "rank:pairwise", "rank:ndcg", "rank:map", "reg:quantileerror")


class TreeEnsemble:
    """A gradient-boosted tree ensemble as flat arrays.

    Parameters
    ----------
    model : dict
        The parsed content of an XGBoost JSON model (``Booster.save_model("m.json")``).
    """

    def __init__(self, model: dict):
        try:
            learner = model["learner"]
            booster = learner["gradient_booster"]
            if booster.get("name") != "gbtree":
                raise PredictorFileError(f"unsupported booster {booster.get('name')!r}; expected gbtree")
            objective = learner["objective"]["name"]
            if objective not in IDENTITY_OBJECTIVES:
                raise PredictorFileError(f"unsupported objective {objective!r}; expected one of "
                                         f"{', '.join(IDENTITY_OBJECTIVES)}")
            params = learner["learner_model_param"]
            self.n_features = int(params["num_feature"])
            base = str(params["base_score"]).strip("[]").split(",")[0]
            self.base_score = float(base)
            trees = booster["model"]["trees"]
            weights = booster["model"].get("tree_info")
            self._load_trees(trees)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PredictorFileError(f"malformed XGBoost JSON model ({type(exc).__name__}: {exc})") from None
        del weights

    def _load_trees(self, trees: list[dict]) -> None:
        lefts, rights, feats, conds, default_left, offsets = [], [], [], [], [], []
        depth = 0
        offset = 0
        for tree in trees:
            if any(int(t) != 0 for t in tree.get("split_type", [])):
                raise PredictorFileError("categorical splits are not supported by the NumPy evaluator")
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            n = len(left)
            if len(right) != n or n == 0:
                raise PredictorFileError("malformed XGBoost tree: child arrays differ in length")
            leaf = left < 0
            # children are stored as global indices so that every tree walks in one array
            lefts.append(np.where(leaf, np.arange(n), left) + offset)
            rights.append(np.where(leaf, np.arange(n), right) + offset)
            feats.append(np.asarray(tree["split_indices"], dtype=np.int64))
            conds.append(np.asarray(tree["split_conditions"], dtype=np.float64))
            default_left.append(np.asarray(tree["default_left"], dtype=bool))
            offsets.append(offset)
            offset += n
            depth = max(depth, _depth(left, right))
        self.left = np.concatenate(lefts) if lefts else np.zeros(0, np.int64)
        self.right = np.concatenate(rights) if rights else np.zeros(0, np.int64)
        self.feature = np.concatenate(feats) if feats else np.zeros(0, np.int64)
        self.threshold = np.concatenate(conds).astype(np.float32) if conds else np.zeros(0, np.float32)
        self.default_left = np.concatenate(default_left) if default_left else np.zeros(0, bool)
        self.roots = np.asarray(offsets, dtype=np.int64)
        # children interleaved (left at 2i, right at 2i + 1): one gather per level picks the branch
        self.child = np.stack([self.left, self.right], axis=1).ravel()
        self.is_leaf = self.left == np.arange(len(self.left))
        self.leaf_value = np.where(self.is_leaf, np.concatenate(conds) if conds else 0.0, 0.0)
        if len(self.feature) and (self.feature.min() < 0 or self.feature.max() >= max(self.n_features, 1)):
            raise PredictorFileError("malformed XGBoost model: a split uses a feature index out of range")
        self.depth = depth

    @classmethod
    def from_file(cls, path: str | Path) -> TreeEnsemble:
        try:
            with open(path, "rb") as fh:
                model = json.loads(fh.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PredictorFileError(f"cannot read XGBoost JSON model {path}: {exc}") from None
        return cls(model)

    def predict(self, X: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Predictions of shape (n,) for features ``X`` of shape (n, n_features)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise PredictorFileError(f"model expects {self.n_features} features, got array of shape {X.shape}")
        out = np.empty(X.shape[0], dtype=np.float64)
        for start in range(0, X.shape[0], chunk):
            out[start:start + chunk] = self._predict_chunk(X[start:start + chunk])
        return out

    def _predict_chunk(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if len(self.roots) == 0:
            return np.full(n, self.base_score)
        # node index per (tree, row); walk all trees together, one level per step. Flat ``take``s
        # into the feature-major copy of X (row r of feature f at f * n + r) are the cheapest gathers
        # numpy has; the leaf values are summed per row in tree order, as xgboost adds them.
        values = np.ascontiguousarray(X.T).ravel()
        rows = np.arange(n, dtype=np.int64)[None, :]
        feature = self.feature * n
        node = np.repeat(self.roots[:, None], n, axis=1)
        has_missing = bool(np.isnan(X).any())
        for _ in range(self.depth):
            value = values.take(feature.take(node) + rows)
            go_right = ~(value < self.threshold.take(node))  # NaN compares False: goes right unless...
            if has_missing:  # ...the split's default branch says left
                go_right = np.where(np.isnan(value), ~self.default_left.take(node), go_right)
            node = self.child.take(2 * node + go_right)
        return self.base_score + self.leaf_value.take(node.T).sum(axis=1)


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    # XGBoost numbers children after their parents, so one forward pass sets every depth
    for i in range(len(left)):
        if left[i] >= 0:
            depth[left[i]] = depth[i] + 1
            depth[right[i]] = depth[i] + 1
    return int(depth.max()) if len(depth) else 0
