"""Tile placement and the pixel-level layer pipeline of a tiled accelerator (MNSIM 2.0's).

Two conventions of :class:`fastnax.hwmodel.mapping.MappingSpec`, vectorized over a block of
architectures (no loop over architectures or pixels), each written from the description of MNSIM
2.0's public source (Zhu et al., TCAD 2023), and held equal to a plain per-pixel reference
(:func:`reference_finish`) in the tests:

- ``placement = "spiral"``: the stages take consecutive tiles along a square spiral from a corner
  of the tile mesh (``Mapping_Model/Tile_connection_graph.py``, ``Tile_Connection = 2``): tile ``t``
  is in shell ``s = floor(sqrt(t))`` (the cells with ``max(row, column) = s``), which an odd ``s``
  walks down column ``s`` and then left along row ``s``, an even ``s`` right along row ``s`` and
  then up column ``s``. Each stage with tiles picks an aggregator tile ``A`` among its own, the
  first in row-major order that minimises ``d_in(A) + d_out(A)``: ``d_in`` the farthest of its own
  tiles, ``d_out`` the farthest tile of the stages that read its output, or, where only additions
  read it, ``|row - mesh / 2| + column`` (the distance to the mesh's mid-line). An addition has no
  tiles; its ``d_out`` is that mid-line distance of the first tile (row-major) of each reader, the
  farthest of them. The last stage keeps ``d_in`` only. Distances are Manhattan (L1): the farthest
  point of a set from ``A`` is read off the set's extremes of ``row + column`` and ``row - column``.
- ``pipeline = "pixel"``: every stage (a weight layer, a pooling, an addition) computes its output
  pixels in raster order, each as soon as the input pixels it needs and its previous pixel are
  done (``Latency_Model/Model_latency.py``, ``calculate_model_latency(mode=1)``): a convolution's
  pixel ``(i, j)`` needs input pixel ``(min(max(k - p, 1) + s i, H) - 1, min(max(k - p, 1) + s j,
  W) - 1)`` (``(s i, s j)`` for ``k = 1``), a pooling the same with its window, an addition the
  same pixel of both inputs, a linear layer the last input pixel. With a constant time ``t`` per
  pixel the recurrence ``f_x = max(a_x, f_{x-1}) + t`` has the closed form
  ``f_x = (x + 1) t + max_{y <= x} (a_y - y t)``: one cumulative maximum per stage. The latency is
  the last stage's last pixel.

The layer table carries the dataflow (``LayerTable.src``, ``pool_kernel``, ``pool_stride``,
``add_src``; set by :mod:`fastnax.hwmodel.importer`, a chain by default). Padding is not in the
table: a convolution's is the smallest that gives its output size, ``ceil(((out - 1) s + k - in) / 2)``.
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import KIND_LINEAR, KIND_PAD, LayerTable
from fastnax.errors import HardwareError


def spiral_position(index) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of tile ``index`` (array) along the corner spiral of ``placement = "spiral"``."""
    t = np.asarray(index, dtype=np.int64)
    s = spiral_shell(t)
    r = t - s * s
    odd, first = (s % 2) == 1, r <= s
    row = np.where(odd, np.where(first, r, s), np.where(first, s, 2 * s - r))
    col = np.where(odd, np.where(first, s, 2 * s - r), np.where(first, r, s))
    return row, col


def check_dataflow(table: LayerTable, rows: slice) -> None:
    """HardwareError where the dataflow fields of the table's ``rows`` do not describe a DAG."""
    slots = table.n_slots
    j = np.arange(slots)
    flow = table.dataflow(rows)
    src, add_src, pk, ps = flow["src"], flow["add_src"], flow["pool_kernel"], flow["pool_stride"]
    if np.any((src < -1) | (src >= j)):
        raise HardwareError("LayerTable.src must name an earlier slot (or -1, the network input)")
    if np.any((add_src < -2) | (add_src >= j)):
        raise HardwareError("LayerTable.add_src must name an earlier slot, -1 (the network input) or -2 (none)")
    if np.any(pk < 0) or np.any((pk > 0) & (ps < 1)):
        raise HardwareError("LayerTable.pool_kernel must be >= 0, with pool_stride >= 1 where it is > 0")


def conv_padding(out_h, stride, kernel, in_h):
    """The padding the table does not store: the smallest that gives the output size,
    ``ceil(((out - 1) s + k - in) / 2)``, at least 0 (arrays broadcast)."""
    return np.maximum(np.ceil(((out_h - 1) * stride + kernel - in_h) / 2.0), 0.0)


def _stages(table: LayerTable, rows: slice):
    """The ``rows``' live slots (mask), the slot each reads and the slot its addition's other
    input comes from (``add_src``), both followed through padded slots, which pass their input on."""
    mask = table.kind[rows] != KIND_PAD
    n, slots = mask.shape
    flow = table.dataflow(rows)
    src = np.array(flow["src"])
    # a padded slot's output is its input's: follow references through padded slots
    resolved = np.full((n, slots), -1, dtype=np.int64)
    for j in range(slots):
        s = src[:, j]
        ok = s >= 0
        prev = np.where(ok, resolved[np.arange(n), np.clip(s, 0, None)], -1)
        through = ok & ~mask[np.arange(n), np.clip(s, 0, None)]
        src[:, j] = np.where(through, prev, s)
        resolved[:, j] = np.where(mask[:, j], j, src[:, j])
    add_src = flow["add_src"]
    add_src = np.where(add_src >= 0, resolved[np.arange(n)[:, None], np.clip(add_src, 0, None)], add_src)
    return mask, src, add_src


def _need(out_h, out_w, in_h, in_w, k, s, p, linear, width):
    """(n, width) input pixel index that output pixel x (raster order) waits for.

    The input row depends on the output row only and the input column on the output column: both
    are computed once per row of the table, then laid out in raster order for each output width
    (a handful of distinct values in a batch)."""
    n = out_w.size
    ow = np.maximum(out_w, 1)
    rows_n = int(np.max(np.minimum(out_h, -(-width // ow)))) if n else 1
    lead = np.maximum(k - p, 1)[:, None]
    big = (k > 1)[:, None]
    i = np.arange(max(rows_n, 1))[None, :]
    j = np.arange(int(ow.max()) if n else 1)[None, :]
    r = np.where(big, np.minimum(lead + s[:, None] * i, in_h[:, None]) - 1, s[:, None] * i) * in_w[:, None]
    c = np.where(big, np.minimum(lead + s[:, None] * j, in_w[:, None]) - 1, s[:, None] * j)
    need = np.empty((n, width), dtype=np.int64)
    x = np.arange(width)
    for w in np.unique(ow):
        rows = np.flatnonzero(ow == w)
        ii, jj = np.minimum(x // w, r.shape[1] - 1), x % w
        need[rows] = r[rows][:, ii] + c[rows][:, jj]
    need[linear] = (in_h * in_w - 1)[linear, None]
    return need


def _run(arrive, t, count):
    """Finish times ``f_x = (x + 1) t + cummax_{y <= x}(a_y - y t)`` of ``count`` pixels per row.

    Entries past a row's ``count`` are left as they come out (a row's pixels come first, so they
    never reach its valid ones); every reader clips its indices to ``count - 1``."""
    x = np.arange(arrive.shape[1], dtype=np.float64)[None, :]
    a = np.subtract(arrive, x * t[:, None])
    np.maximum.accumulate(a, axis=1, out=a)
    a += (x + 1.0) * t[:, None]
    return a


def _gather(finish, count, index):
    """finish[row, min(index, count - 1)]: the producer's pixel (its last where the index runs past)."""
    idx = np.clip(index, 0, np.maximum(count - 1, 0)[:, None])
    idx = np.minimum(idx, finish.shape[1] - 1)
    return np.take_along_axis(finish, idx, axis=1)


def pixel_pipeline(table: LayerTable, rows: slice, weight_pixel_ns, pool_pixel_ns, add_pixel_ns) -> np.ndarray:
    """Latency (ns, shape (n,)) of the pixel-level pipeline of the ``rows`` of ``table``: each
    weight layer, pooling and addition stage taking the given time per output pixel (arrays of
    shape (n, n_slots); the pooling and addition times of a slot are read where it has them).
    Each slot is computed on the rows where it holds a layer only."""
    mask, src, add_src = _stages(table, rows)
    n, slots = mask.shape
    kind = table.kind[rows]
    g = {name: getattr(table, name)[rows].astype(np.int64) for name in
         ("kernel", "stride", "in_h", "in_w", "out_h", "out_w")}
    flow = table.dataflow(rows)
    g["pool_kernel"], g["pool_stride"] = flow["pool_kernel"], flow["pool_stride"]
    pad = conv_padding(g["out_h"], g["stride"], g["kernel"], g["in_h"]).astype(np.int64)
    # slot -> (finish (rows of the slot, width), pixel count per row, position of each table row)
    finish: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    total = np.zeros(n)

    def producer(ref, at):
        """(finish, count) of the output of slot ``ref[at]`` for the rows ``at`` (-1: the input)."""
        parts = [(q, at[ref[at] == q]) for q in np.unique(ref[at])]
        width = max((finish[q][0].shape[1] for q, _ in parts if q >= 0), default=1)
        f = np.zeros((at.size, width))
        count = np.ones(at.size, dtype=np.int64)
        where = np.searchsorted(at, np.concatenate([r for _, r in parts])) if parts else []
        start = 0
        for q, r in parts:
            idx = where[start:start + r.size]
            start += r.size
            if q < 0:
                continue
            f_q, c_q, pos = finish[int(q)]
            f[idx, :f_q.shape[1]] = f_q[pos[r]]
            f[idx, f_q.shape[1]:] = np.nan
            count[idx] = c_q[pos[r]]
        return f, count

    for j in range(slots):
        at = np.flatnonzero(mask[:, j])
        if at.size == 0:
            continue
        f_in, c_in = producer(src[:, j], at)
        oh, ow = g["out_h"][at, j], g["out_w"][at, j]
        count = oh * ow
        need = _need(oh, ow, g["in_h"][at, j], g["in_w"][at, j], g["kernel"][at, j], g["stride"][at, j],
                     pad[at, j], kind[at, j] == KIND_LINEAR, int(count.max()))
        f = _run(_gather(f_in, c_in, need), weight_pixel_ns[at, j], count)
        total[at] = np.fmax(total[at], _gather(f, count, (count - 1)[:, None])[:, 0])  # every stage's end
        pk, ps = g["pool_kernel"][at, j], np.maximum(g["pool_stride"][at, j], 1)
        pooled = pk > 0
        if pooled.any():
            ph = np.where(pooled, (oh - pk) // ps + 1, oh)
            pw = np.where(pooled, (ow - pk) // ps + 1, ow)
            p_count = np.maximum(ph, 1) * np.maximum(pw, 1)
            p_need = _need(ph, pw, oh, ow, np.where(pooled, pk, 1), np.where(pooled, ps, 1),
                           np.zeros(at.size, dtype=np.int64), np.zeros(at.size, dtype=bool), int(p_count.max()))
            p_f = _run(_gather(f, count, p_need), np.where(pooled, pool_pixel_ns[at, j], 0.0), p_count)
            widest = max(f.shape[1], p_f.shape[1])
            f = np.where(pooled[:, None], np.pad(p_f, ((0, 0), (0, widest - p_f.shape[1])), constant_values=np.nan),
                         np.pad(f, ((0, 0), (0, widest - f.shape[1])), constant_values=np.nan))
            count = np.where(pooled, p_count, count)
        added = add_src[at, j] >= -1
        if added.any():
            f_other, c_other = producer(add_src[:, j], at)
            x = np.broadcast_to(np.arange(f.shape[1])[None, :], f.shape)
            a_f = _run(np.fmax(f, _gather(f_other, c_other, x)), np.where(added, add_pixel_ns[at, j], 0.0), count)
            f = np.where(added[:, None], a_f, f)
        pos = np.zeros(n, dtype=np.int64)
        pos[at] = np.arange(at.size)
        finish[j] = (f, count, pos)
        total[at] = np.fmax(total[at], _gather(f, count, (count - 1)[:, None])[:, 0])
    return total


def reference_finish(stages: list[dict]) -> float:
    """The plain per-pixel recurrence (one Python loop per pixel) of a list of stages, each a dict
    with ``t`` (ns per pixel), ``count`` (pixels), ``inputs`` (indices of earlier stages, empty for
    the network input) and ``need`` (function: input stage, pixel -> that stage's pixel waited
    for). The last pixel of the last stage. The tests hold :func:`pixel_pipeline` to it."""
    finish: list[list[float]] = []
    for stage in stages:
        f, prev = [], 0.0
        for x in range(stage["count"]):
            arrive = max((finish[q][stage["need"](q, x)] for q in stage["inputs"]), default=0.0)
            prev = max(arrive, prev) + stage["t"]
            f.append(prev)
        finish.append(f)
    return finish[-1][-1]


def _segment(values, counts, reduce, empty):
    """``reduce`` (np.maximum / np.minimum) of consecutive segments of ``values`` of the given
    ``counts`` (zero-length segments get ``empty``)."""
    out = np.full(counts.size, empty, dtype=values.dtype)
    nonzero = counts > 0
    if values.size:
        starts = (np.cumsum(counts) - counts)[nonzero]
        out[nonzero] = reduce.reduceat(values, starts)
    return out


def _spiral_segments(first, last):
    """The straight runs of tiles ``first..last`` (arrays, inclusive, one range per entry) of the
    spiral: ``owner`` (the range of each run), ``vertical`` (a run down a column), ``fixed`` (its
    column or row), ``lo``, ``hi`` (its rows or columns)."""
    s_first = spiral_shell(first)
    s_last = spiral_shell(last)
    shells = s_last - s_first + 1
    owner = np.repeat(np.arange(first.size), 2 * shells)
    k = np.arange(owner.size) - np.repeat(np.cumsum(2 * shells) - 2 * shells, 2 * shells)
    s = s_first[owner] + k // 2
    part_b = k % 2 == 1
    p0 = np.where(part_b, s * s + s + 1, s * s)
    p1 = np.where(part_b, s * s + 2 * s, s * s + s)
    q0, q1 = np.maximum(p0, first[owner]), np.minimum(p1, last[owner])
    keep = q0 <= q1
    owner, s, part_b, q0, q1 = owner[keep], s[keep], part_b[keep], q0[keep] - s[keep] ** 2, q1[keep] - s[keep] ** 2
    odd = s % 2 == 1
    vertical = odd != part_b  # odd shells go down their column first, even ones along their row
    # part A runs with the index (q), part B against it (2 s - q)
    lo = np.where(part_b, 2 * s - q1, q0)
    hi = np.where(part_b, 2 * s - q0, q1)
    return owner, vertical, s, lo, hi


def spiral_shell(index):
    """The shell ``floor(sqrt(index))`` of each tile index (exact for int64)."""
    t = np.asarray(index, dtype=np.int64)
    s = np.floor(np.sqrt(t)).astype(np.int64)
    return np.where((s + 1) ** 2 <= t, s + 1, np.where(s * s > t, s - 1, s))


def _line(vertical, fixed, ext):
    """``D(t) = max(t + alpha, beta - t)``: the farthest point (L1) of a set with extremes ``ext``
    (max of -u, u, -v, v; u = row + column, v = row - column) from tile ``t`` of a run."""
    e0, e1, e2, e3 = ext[:, 0], ext[:, 1], ext[:, 2], ext[:, 3]
    alpha = np.where(vertical, np.maximum(fixed + e0, e2 - fixed), np.maximum(fixed + e0, e3 - fixed))
    beta = np.where(vertical, np.maximum(e1 - fixed, e3 + fixed), np.maximum(e1 - fixed, fixed + e2))
    return alpha, beta


def placement_distances(table: LayerTable, rows: slice, tiles, pool_tiles: int, mesh: int):
    """MNSIM's aggregator distances under ``placement = "spiral"`` for the ``rows`` of ``table``.

    ``tiles`` (n, n_slots): whole tiles of each weight layer; ``pool_tiles``: tiles of each
    pooling stage; ``mesh``: the tile mesh's side (doubled for an architecture whose tiles do not
    fit on it, as one must for MNSIM). Returns ``(w_in, w_out, pool_out, add_out)``, each (n,
    n_slots): a weight layer's merge and transfer hops, its pooling stage's and its addition
    stage's transfer hops.

    A stage's tiles are a few straight runs of the spiral (two per shell it touches); along a run
    ``d_in + d_out`` is a sum of two V shapes, so its first minimum lies at an end of the run or
    next to a V's vertex: a handful of candidates per run instead of every tile.
    """
    mask, src, add_src = _stages(table, rows)
    n, slots = mask.shape
    pooled = mask & (table.dataflow(rows)["pool_kernel"] > 0)
    added = mask & (add_src >= -1)
    w_tiles = np.where(mask, tiles, 0).astype(np.int64)
    p_tiles = np.where(pooled, pool_tiles, 0).astype(np.int64)
    per_slot = np.stack([w_tiles, p_tiles], axis=2).reshape(n, 2 * slots)  # stage order: layer, pooling
    total_tiles = per_slot.sum(axis=1)
    side = np.full(n, float(mesh))
    while np.any(side * side < total_tiles):
        side = np.where(side * side < total_tiles, 2 * side, side)
    counts = per_slot.reshape(-1)
    stage_ids = np.flatnonzero(counts)
    first = (np.cumsum(per_slot, axis=1) - per_slot).reshape(-1)[stage_ids]
    owner, vertical, fixed, lo, hi = _spiral_segments(first, first + counts[stage_ids] - 1)
    runs = np.bincount(owner, minlength=stage_ids.size)
    base = float(max(4 * mesh, 2 * (hi.max() if hi.size else 0) + 2, 2 * (fixed.max() if fixed.size else 0) + 2))
    # extremes of u = row + column and v = row - column per stage: at the ends of its runs
    r_lo, c_lo = np.where(vertical, lo, fixed), np.where(vertical, fixed, lo)
    r_hi, c_hi = np.where(vertical, hi, fixed), np.where(vertical, fixed, hi)
    u_min, u_max = r_lo + c_lo, r_hi + c_hi
    v_a, v_b = r_lo - c_lo, r_hi - c_hi
    big = float(np.iinfo(np.int64).max // 4)
    ext_s = np.stack([_segment(x.astype(np.float64), runs, np.maximum, -big)
                      for x in (-u_min, u_max, -np.minimum(v_a, v_b), np.maximum(v_a, v_b))], axis=1)
    first_key = _segment((r_lo * base + c_lo).astype(np.float64), runs, np.minimum, big)
    ext = np.full((counts.size, 4), -big)
    ext[stage_ids] = ext_s
    key_first = np.full(counts.size, big)
    key_first[stage_ids] = first_key
    ext, key_first = ext.reshape(n, slots, 2, 4), key_first.reshape(n, slots, 2)
    midline = lambda key, side_: np.abs(np.floor(key / base) - side_ / 2.0) + np.mod(key, base)  # noqa: E731
    # readers of each slot's output: slots that read it (their layer's tiles), additions fed by it
    readers_ext = np.full((n, slots, 4), -big)
    readers_any = np.zeros((n, slots), dtype=bool)
    readers_mid = np.zeros((n, slots))
    add_fed = np.zeros((n, slots), dtype=bool)
    rows_idx = np.arange(n)
    for k in range(slots):
        ok = mask[:, k] & (src[:, k] >= 0)
        i, j = rows_idx[ok], src[ok, k]
        readers_ext[i, j] = np.maximum(readers_ext[i, j], ext[i, k, 0])
        readers_any[i, j] = True
        readers_mid[i, j] = np.maximum(readers_mid[i, j], midline(key_first[i, k, 0], side[i]))
        ok = added[:, k] & (add_src[:, k] >= 0)
        add_fed[rows_idx[ok], add_src[ok, k]] = True
    last_slot = np.where(mask.any(1), slots - 1 - np.argmax(mask[:, ::-1], axis=1), -1)
    # per run: its stage's d_in and d_out as V shapes along the run, then the first minimum
    stage = stage_ids[owner]
    row, j, is_pool = stage // (2 * slots), (stage % (2 * slots)) // 2, stage % 2 == 1
    final = is_pool | ~pooled[row, j]  # the stage whose output is the slot's (before any addition)
    to_pool = ~final
    to_readers = final & ~added[row, j] & readers_any[row, j]
    only_adds = final & (added[row, j] | (add_fed[row, j] & ~readers_any[row, j]))
    is_last = final & ~added[row, j] & (j == last_slot[row])
    a_in, b_in = _line(vertical, fixed, ext.reshape(-1, 4)[stage])
    target = np.where(to_pool[:, None], ext[row, j, 1], readers_ext[row, j])
    a_out, b_out = _line(vertical, fixed, target)
    half = side[row] / 2.0
    a_out = np.where(only_adds, np.where(vertical, fixed - half, np.abs(fixed - half)), a_out)
    b_out = np.where(only_adds, np.where(vertical, fixed + half, -big), b_out)
    no_out = is_last | ~(to_pool | to_readers | only_adds)
    cand = [lo, hi]
    for a, b in ((a_in, b_in), (a_out, b_out)):
        vertex = np.clip((b - a) / 2.0, -1.0, big)
        cand += [np.floor(vertex), np.ceil(vertex)]
    best_key = np.full(owner.size, np.inf)
    best_in = np.zeros(owner.size)
    best_out = np.zeros(owner.size)
    for t in cand:
        t = np.clip(t, lo, hi)
        d_in = np.maximum(t + a_in, b_in - t)
        d_out = np.where(no_out, 0.0, np.maximum(t + a_out, b_out - t))
        tile_key = np.where(vertical, t * base + fixed, fixed * base + t)
        key = (d_in + d_out) * base * base + tile_key
        better = key < best_key
        best_key = np.where(better, key, best_key)
        best_in = np.where(better, d_in, best_in)
        best_out = np.where(better, d_out, best_out)
    stage_best = _segment(best_key, runs, np.minimum, np.inf)
    chosen = best_key == stage_best[np.repeat(np.arange(stage_ids.size), runs)]
    out_in, out_out = np.zeros(counts.size), np.zeros(counts.size)
    out_in[stage[chosen]] = best_in[chosen]
    out_out[stage[chosen]] = best_out[chosen]
    out_in, out_out = out_in.reshape(n, slots, 2), out_out.reshape(n, slots, 2)
    add_out = np.where(added & readers_any, readers_mid, 0.0)
    return out_in[:, :, 0], out_out[:, :, 0], out_out[:, :, 1], add_out
