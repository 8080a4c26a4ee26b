"""The macro family of ``nb201`` (level 1 of the hierarchical search)."""

from __future__ import annotations

import numpy as np

from fastnax.spaces.family import Family


class Nb201Family(Family):
    """``nb201``: op of the main chain (1←0, 2←1, 3←2), of the shortcuts (2←0, 3←1), of the
    direct edge (3←0), and the crossbar size."""

    MAIN, SHORT, DIRECT = (0, 2, 5), (1, 4), (3,)

    def __init__(self, space):
        self.space = space
        self.names = ["main_op", "shortcut_op", "direct_op", "crossbar"]
        self.levels = [5, 5, 5, int(space.bounds[6, 1]) + 1]

    def to_vectors(self, Z):
        Z = np.asarray(Z, dtype=np.int64)
        X = np.zeros((Z.shape[0], 7), dtype=np.int64)
        for group, k in ((self.MAIN, 0), (self.SHORT, 1), (self.DIRECT, 2)):
            X[:, list(group)] = Z[:, k][:, None]
        X[:, 6] = Z[:, 3]
        return X.astype(float)
