"""The spiral placement and the pixel-level pipeline (fastnax.hwmodel.pipeline) against plain
per-tile and per-pixel references written here, and the dataflow the importer gives them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastnax.arch import KIND_CONV, KIND_LINEAR, LayerTable
from fastnax.errors import HardwareError
from fastnax.hwmodel import pipeline


def test_spiral_walks_the_shells_of_the_corner():
    # MNSIM's Tile_Connection = 2 order, traced by hand: (0,0); shell 1 down column 1 then left
    # along row 1; shell 2 right along row 2 then up column 2; shell 3 down column 3, left on row 3
    expected = [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2),
                (0, 3), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1), (3, 0)]
    r, c = pipeline.spiral_position(np.arange(16))
    assert list(zip(r.tolist(), c.tolist())) == expected
    # the first s^2 tiles fill the s x s square, one tile per cell, consecutive tiles adjacent
    r, c = pipeline.spiral_position(np.arange(40 * 40))
    assert len(set(zip(r.tolist(), c.tolist()))) == 1600 and r.max() == c.max() == 39
    assert np.all(np.abs(np.diff(r)) + np.abs(np.diff(c)) == 1)
    big = np.array([10**12, (10**6) ** 2 - 1])  # exact integer shells far out
    assert pipeline.spiral_shell(big).tolist() == [10**6, 10**6 - 1]


def _random_dataflow(rng, n, slots):
    src = np.full((n, slots), -1, dtype=np.int64)
    add_src = np.full((n, slots), -2, dtype=np.int64)
    pool = np.zeros((n, slots), dtype=np.int64)
    for i in range(n):
        for j in range(1, slots):
            src[i, j] = rng.integers(max(0, j - 3), j) if rng.random() < 0.9 else -1
            if rng.random() < 0.3:
                add_src[i, j] = rng.integers(-1, j)
        pool[i] = (rng.random(slots) < 0.3) * 2
    return src, add_src, pool


def _table(rng, n, slots, geometry=False):
    src, add_src, pool = _random_dataflow(rng, n, slots)
    kind = np.full((n, slots), KIND_CONV, dtype=np.int8)
    kind[:, -1] = KIND_LINEAR
    pad_slot = rng.random((n, slots)) < 0.15  # a few padded slots in the middle
    pad_slot[:, 0] = pad_slot[:, -1] = False
    kind[pad_slot] = 0
    side = rng.choice([2, 3, 4, 6], size=(n, slots))
    k = rng.choice([1, 3], size=(n, slots))
    cols = {name: np.ones((n, slots), dtype=np.int64) for name in LayerTable.PER_LAYER}
    cols.update(kind=kind, kernel=k, stride=np.ones((n, slots), dtype=np.int64), in_h=side, in_w=side,
                out_h=side, out_w=side, c_in=rng.integers(1, 64, (n, slots)), c_out=rng.integers(1, 64, (n, slots)),
                crossbar_size=np.full((n, slots), 64))
    cols["out_h"] = np.where(kind == KIND_LINEAR, 1, cols["out_h"])
    cols["out_w"] = np.where(kind == KIND_LINEAR, 1, cols["out_w"])
    for name in LayerTable.PER_LAYER:
        if name != "kind":
            cols[name] = np.where(kind == 0, 0, cols[name])
    pool = np.where((kind == KIND_CONV) & (cols["out_h"] >= 2), pool, 0)
    one = np.ones(n, dtype=np.int64)
    table = LayerTable(**cols, w_bits=8 * one, in_bits=8 * one, cell_bits=one, adc_rule=0 * one, n_skip=0 * one,
                       src=src, pool_kernel=pool, pool_stride=pool, add_src=add_src)
    return table


def _effective(table, i):
    """Per slot of row i: the live slot whose output a reference names (through padded slots)."""
    live = table.kind[i] != 0
    resolved = {}
    for j in range(table.n_slots):
        s = int(table.src[i, j])
        while s >= 0 and not live[s]:
            s = int(table.src[i, s])
        resolved[j] = (j if live[j] else s)
    eff = lambda s: s if s < 0 else resolved[s]  # noqa: E731
    return live, eff


def _reference_distances(table, i, tiles, pool_tiles, mesh):
    """MNSIM's aggregator rule, tile by tile, for row i: dicts slot -> hops."""
    live, eff = _effective(table, i)
    stages, start = [], 0  # (slot, kind, tiles)
    for j in range(table.n_slots):
        if not live[j]:
            continue
        stages.append((j, "w", [pipeline.spiral_position(start + t) for t in range(int(tiles[i, j]))]))
        start += int(tiles[i, j])
        if table.pool_kernel[i, j] > 0:
            stages.append((j, "p", [pipeline.spiral_position(start + t) for t in range(pool_tiles)]))
            start += pool_tiles
    side = mesh
    while side * side < start:
        side *= 2
    pos = lambda ts: [(int(r), int(c)) for r, c in ts]  # noqa: E731
    readers = {j: [k for k in range(table.n_slots) if live[k] and eff(int(table.src[i, k])) == j]
               for j in range(table.n_slots)}
    fed = {j: any(live[k] and table.add_src[i, k] >= 0 and eff(int(table.add_src[i, k])) == j
                  for k in range(table.n_slots)) for j in range(table.n_slots)}
    tiles_of = {(j, kind): pos(ts) for j, kind, ts in stages}
    last = max(j for j in range(table.n_slots) if live[j])
    dist = lambda a, b: abs(a[0] - b[0]) + abs(a[1] - b[1])  # noqa: E731
    out = {}
    for j, kind, _ in stages:
        own = sorted(tiles_of[(j, kind)])  # row-major, as MNSIM's argwhere
        pooled, added = table.pool_kernel[i, j] > 0, table.add_src[i, j] >= -1
        final = kind == "p" or not pooled
        if not final:
            targets, rule = tiles_of[(j, "p")], "tiles"
        elif added or (fed[j] and not readers[j]):
            targets, rule = None, "midline"
        elif readers[j]:
            targets, rule = [t for k in readers[j] for t in tiles_of[(k, "w")]], "tiles"
        else:
            targets, rule = [], "none"
        if final and not added and j == last:
            rule = "none"
        best = None
        for a in own:
            d_in = max(dist(a, b) for b in own)
            if rule == "tiles":
                d_out = max(dist(a, b) for b in targets)
            elif rule == "midline":
                d_out = abs(a[0] - side / 2) + a[1]
            else:
                d_out = 0
            if best is None or d_in + d_out < best[0]:
                best = (d_in + d_out, d_in, d_out)
        out[(j, kind)] = best[1:]
        if kind == "w" and added or kind == "p" and added:
            if final:
                firsts = [abs(min(tiles_of[(k, "w")])[0] - side / 2) + min(tiles_of[(k, "w")])[1] for k in readers[j]]
                out[(j, "a")] = max(firsts, default=0.0)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_spiral_distances_equal_the_tile_by_tile_rule(seed):
    rng = np.random.default_rng(seed)
    table = _table(rng, 5, 9)
    tiles = np.where(table.kind != 0, rng.integers(1, 40, table.kind.shape), 0)
    mesh = 8 if seed % 2 else 64  # small meshes overflow and double
    w_in, w_out, p_out, a_out = pipeline.placement_distances(table, slice(0, 5), tiles, 1, mesh)
    for i in range(5):
        ref = _reference_distances(table, i, tiles, 1, mesh)
        for (j, kind), value in ref.items():
            if kind == "w":
                assert (w_in[i, j], w_out[i, j]) == value, (i, j)
            elif kind == "p":
                assert p_out[i, j] == value[1], (i, j)
            else:
                assert a_out[i, j] == value, (i, j)


def _need_scalar(x, out_w, in_h, in_w, k, s, p, linear):
    if linear:
        return in_h * in_w - 1
    i, j = divmod(x, out_w)
    if k > 1:
        lead = max(k - p, 1)
        return (min(lead + s * i, in_h) - 1) * in_w + min(lead + s * j, in_w) - 1
    return s * i * in_w + s * j


def _reference_latency(table, i, t_w, t_p, t_a):
    live, eff = _effective(table, i)
    stages, final = [], {}  # final: slot -> stage index of its output

    def producer_need(q, fn):
        count = stages[q]["count"]
        return lambda _q, x: min(fn(x), count - 1)

    for j in range(table.n_slots):
        if not live[j]:
            continue
        oh, ow, ih, iw = (int(getattr(table, f)[i, j]) for f in ("out_h", "out_w", "in_h", "in_w"))
        k, s = int(table.kernel[i, j]), int(table.stride[i, j])
        p = max(math.ceil(((oh - 1) * s + k - ih) / 2), 0)
        src = eff(int(table.src[i, j]))
        linear = table.kind[i, j] == KIND_LINEAR
        inputs = [final[src]] if src >= 0 else []
        fn = lambda x, ow=ow, ih=ih, iw=iw, k=k, s=s, p=p, linear=linear: _need_scalar(x, ow, ih, iw, k, s, p, linear)  # noqa: E731
        need = producer_need(inputs[0], fn) if inputs else None
        stages.append({"t": t_w[i, j], "count": oh * ow, "inputs": inputs, "need": need})
        here, count, width = len(stages) - 1, oh * ow, ow
        pk = int(table.pool_kernel[i, j])
        if pk:
            ps = int(table.pool_stride[i, j])
            ph, pw = (oh - pk) // ps + 1, (ow - pk) // ps + 1
            fn = lambda x, pw=pw, oh=oh, ow=ow, pk=pk, ps=ps: _need_scalar(x, pw, oh, ow, pk, ps, 0, False)  # noqa: E731
            stages.append({"t": t_p[i, j], "count": ph * pw, "inputs": [here], "need": producer_need(here, fn)})
            here, count = len(stages) - 1, ph * pw
        if table.add_src[i, j] >= -1:
            other = eff(int(table.add_src[i, j]))
            inputs = [here] + ([final[other]] if other >= 0 else [])
            counts = {q: stages[q]["count"] for q in inputs}
            stages.append({"t": t_a[i, j], "count": count, "inputs": inputs,
                           "need": lambda q, x, counts=counts: min(x, counts[q] - 1)})
            here = len(stages) - 1
        final[j] = here
    # the pipeline's latency is the latest finish of any stage; the reference gives each stage's last
    ends = []
    for m in range(len(stages)):
        ends.append(pipeline.reference_finish(stages[:m + 1]))
    return max(ends)


@pytest.mark.parametrize("seed", range(6))
def test_pixel_pipeline_equals_the_pixel_by_pixel_recurrence(seed):
    rng = np.random.default_rng(100 + seed)
    table = _table(rng, 6, 8, geometry=True)
    t_w, t_p, t_a = (rng.uniform(1.0, 50.0, table.kind.shape) for _ in range(3))
    fast = pipeline.pixel_pipeline(table, slice(0, 6), t_w, t_p, t_a)
    for i in range(6):
        assert fast[i] == pytest.approx(_reference_latency(table, i, t_w, t_p, t_a), rel=1e-12), i


def test_dataflow_is_checked():
    table = _table(np.random.default_rng(0), 2, 4)
    for field, value in (("src", 3), ("add_src", -3), ("pool_kernel", -1)):
        bad = table[np.arange(2)]  # a copy
        getattr(bad, field)[0, 2] = value
        with pytest.raises(HardwareError, match=field):
            pipeline.check_dataflow(bad, slice(0, 2))


def test_compact_keeps_the_references_on_their_slots():
    table = _table(np.random.default_rng(1), 3, 6)
    wide = LayerTable(**{f: (np.insert(getattr(table, f), 2, 0, axis=1) if f in LayerTable.PER_LAYER else
                             getattr(table, f)) for f in LayerTable.PER_LAYER + LayerTable.PER_ARCH},
                      src=np.insert(np.where(table.src >= 2, table.src + 1, table.src), 2, 0, axis=1),
                      pool_kernel=np.insert(table.pool_kernel, 2, 0, axis=1),
                      pool_stride=np.insert(table.pool_stride, 2, 0, axis=1),
                      add_src=np.insert(np.where(table.add_src >= 2, table.add_src + 1, table.add_src), 2, -2, axis=1))
    back = wide.compact()
    for name in LayerTable.DATAFLOW + LayerTable.PER_LAYER:
        assert np.array_equal(getattr(back, name), getattr(table, name)), name


def test_importer_dataflow_of_pools_and_residual_blocks():
    torch = pytest.importorskip("torch")
    from torch import nn

    from fastnax.hwmodel.importer import import_torch

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
            self.short = nn.Conv2d(c_in, c_out, 1, stride) if stride > 1 else None

        def forward(self, x):
            y = self.conv2(torch.relu(self.conv1(x)))
            return torch.relu(y + (self.short(x) if self.short is not None else x))

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), Block(8, 8, 1), Block(8, 16, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    flow = import_torch(net, (3, 16, 16)).dataflow()
    # slots: stem 0 (pooled), block 1: conv1 1, conv2 2 (+ identity from 0), block 2: conv1 3,
    # conv2 4, shortcut 5 (reads 2; the addition of 4 and 5 on 5), the classifier 6 (reads 5)
    assert flow["src"].tolist() == [-1, 0, 1, 2, 3, 2, 5]
    assert flow["pool_kernel"].tolist() == [2, 0, 0, 0, 0, 0, 0]
    assert flow["add_src"].tolist() == [-2, -2, 0, -2, -2, 4, -2]
    # a pooling after an addition is outside the stage model: the importer falls back to a chain
    class PoolAfterAdd(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            y = self.a(x)
            return nn.functional.max_pool2d(self.b(y) + y, 2)

    chain = import_torch(PoolAfterAdd(), (3, 8, 8)).dataflow()
    assert chain["src"].tolist() == [-1, 0] and chain["add_src"].tolist() == [-2, -2]


def test_hw_command_says_when_layer_latencies_overlap(capsys):
    from fastnax import cli

    assert cli.main(["hw", "--space", "imc", "--baseline", "resnet20", "--preset", "mnsim2"]) == 0
    pipelined = capsys.readouterr().out
    assert "the total is the pipeline's, not their sum" in pipelined
    assert cli.main(["hw", "--space", "imc", "--baseline", "resnet20"]) == 0  # puma-32nm: the layers' sum
    assert "pipeline" not in capsys.readouterr().out


def test_tables_without_dataflow_store_none_and_read_as_a_chain():
    from fastnax import hwmodel, spaces

    space = spaces.get("imc")
    table = space.layer_table(space.sample_vectors(20, seed=3))
    assert all(getattr(table, name) is None for name in LayerTable.DATAFLOW)  # the search's tables: no arrays
    flow = table.dataflow(slice(2, 5))
    assert flow["src"].shape == (3, table.n_slots) and flow["src"][0].tolist() == list(range(-1, table.n_slots - 1))
    assert (flow["add_src"] == -2).all() and (flow["pool_kernel"] == 0).all()
    explicit = LayerTable(**{f: getattr(table, f) for f in LayerTable.PER_LAYER + LayerTable.PER_ARCH},
                          **{name: np.array(value) for name, value in table.dataflow().items()})
    mnsim = hwmodel.get_preset("mnsim2")
    assert np.array_equal(mnsim.evaluate(table).latency_ns, mnsim.evaluate(explicit).latency_ns)
    assert table[np.arange(3)].src is None and table.compact().src is None
    with pytest.raises(Exception, match="dataflow needs all of"):
        LayerTable(**{f: getattr(table, f) for f in LayerTable.PER_LAYER + LayerTable.PER_ARCH}, src=flow["src"])
