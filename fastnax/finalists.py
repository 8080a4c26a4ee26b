"""Which designs of a search the pipeline trains (``fastnax run``'s finalists).

Split from :mod:`fastnax.pipeline` so the choice can be read and tested on its own.
"""

from __future__ import annotations

import numpy as np


def pick_finalists(front: list[dict], best: dict, min_accuracy: float, k: int,
                   others: list[dict] | None = None) -> list[str]:
    """``k`` designs of the front: the objective's best, then feasible front points spread evenly
    in log EDAP from the cheapest to the most accurate (the predictor is uncertain, so the
    finalists cover the trade-off instead of crowding at its cheap end). Designs outside the
    support of the predictor's records are passed over while any inside remain: their value is no
    evidence, and training one spent a finalist on a 10-weight network (6.96 %).

    When the front holds fewer than ``k`` feasible designs (cheap designs predicted at the best
    record's accuracy dominate everything above them: on digits a front of 2 at the run's
    constraint), the remaining places go to the feasible, supported candidates of ``others``
    (points with ``arch``, ``accuracy``, ``accuracy_lower``, ``edap``) the predictor is surest of:
    the highest lower end of the 80 % interval (a record's: its lowest measurement), the lower
    EDAP first on ties."""
    feasible = sorted((p for p in front if p["accuracy"] >= min_accuracy), key=lambda p: p["edap"])
    supported = [p for p in feasible if p.get("in_support", True)]
    feasible = supported or feasible
    chosen = [best["arch"]]
    if feasible and k > 1:
        logs = np.log10([p["edap"] for p in feasible])
        spread = np.linspace(logs[0], logs[-1], max(k - 1, 2))
        # the two ends first (cheapest, most accurate), then the points between
        for target in [spread[0], spread[-1], *spread[1:-1]]:
            for i in np.argsort(np.abs(logs - target), kind="stable"):
                if feasible[i]["arch"] not in chosen:
                    chosen.append(feasible[i]["arch"])
                    break
            if len(chosen) >= k:
                break
    if len(chosen) < k and others:
        sure = [p for p in others if p["accuracy"] >= min_accuracy and p.get("in_support", True)
                and p["arch"] not in chosen]
        sure.sort(key=lambda p: (-p.get("accuracy_lower", p["accuracy"]), p["edap"]))
        chosen += [p["arch"] for p in sure[:k - len(chosen)]]
    return chosen[:k]


def feasible_points(result, space, limit: int = 64) -> list[dict]:
    """The feasible candidates inside the records' support that a search priced
    (``result.evaluated``), as points: the ``limit`` with the highest lower end of the 80 %
    interval."""
    ev = result.evaluated
    if not ev or "accuracy_lower" not in ev:
        return []
    ok = np.flatnonzero(np.asarray(ev["feasible"], dtype=bool) & (np.asarray(ev["in_support"]) > 0))
    if not len(ok):
        return []
    lower = np.asarray(ev["accuracy_lower"], dtype=float)[ok]
    edap = np.asarray(ev["edap"], dtype=float)[ok]
    top = ok[np.lexsort((edap, -lower))[:limit]]
    archs = space.decode(np.asarray(ev["index"])[top].astype(float))
    return [{"arch": str(a), "accuracy": float(ev["accuracy"][i]), "accuracy_lower": float(ev["accuracy_lower"][i]),
             "edap": float(ev["edap"][i]), "in_support": bool(ev["in_support"][i] > 0)}
            for a, i in zip(archs, top)]
