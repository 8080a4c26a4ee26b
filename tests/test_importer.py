"""The network importer: torch modules and ONNX graphs as layer tables, checked against hand counts."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from fastnax import hwmodel, spaces  # noqa: E402
from fastnax.arch import KIND_CONV, KIND_LINEAR, LayerTable  # noqa: E402
from fastnax.errors import ArchitectureError, FastnaxError  # noqa: E402
from fastnax.hwmodel.importer import import_onnx, import_torch, layer_table_from_torch  # noqa: E402


def _weight_rows(table: LayerTable) -> list[tuple[int, ...]]:
    """(kind, kernel, stride, c_in, c_out, in_h, in_w, out_h, out_w) of every used slot."""
    rows = []
    for j in range(table.n_slots):
        if table.kind[0, j]:
            rows.append(tuple(int(getattr(table, f)[0, j]) for f in
                              ("kind", "kernel", "stride", "c_in", "c_out", "in_h", "in_w", "out_h", "out_w")))
    return rows


class EveryOp(nn.Module):
    """Each supported op once, shapes worked out by hand below (input 3x12x12)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 5)  # unpadded 5x5: 12 -> 8
        self.bn = nn.BatchNorm2d(8)
        self.dilated = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2)  # (8 + 4 - 4 - 1) // 2 + 1 = 4
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)  # 4 -> 4
        self.grouped = nn.Conv2d(16, 32, 1, groups=4)  # 4 -> 4
        self.pool = nn.MaxPool2d(2)  # 4 -> 2
        self.branch = nn.Conv2d(16, 32, 1, stride=2)  # 4 -> 2 (the shortcut)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = torch.relu(self.dilated(x))
        y = self.depthwise(x)
        main = self.pool(self.grouped(y))
        res = main + self.branch(x)  # residual add
        cat = torch.cat([res, F.avg_pool2d(main, 1)], dim=1)  # 64 channels
        return self.fc(torch.flatten(self.gap(cat), 1))


def test_every_op_matches_hand_counts():
    net = import_torch(EveryOp(), (3, 12, 12))
    ops = [layer.op for layer in net.layers]
    assert ops == ["conv", "conv", "conv", "conv", "maxpool", "conv", "add", "avgpool", "concat", "gap", "linear"]
    table = layer_table_from_torch(EveryOp(), (3, 12, 12), crossbar_size=64)
    C, L = KIND_CONV, KIND_LINEAR
    expected = [(C, 5, 1, 3, 8, 12, 12, 8, 8), (C, 3, 2, 8, 16, 8, 8, 4, 4)]
    expected += [(C, 3, 1, 1, 1, 4, 4, 4, 4)] * 16  # depthwise: one slot per channel group
    expected += [(C, 1, 1, 4, 8, 4, 4, 4, 4)] * 4  # groups=4: 16/4 rows, 32/4 columns each
    expected += [(C, 1, 2, 16, 32, 4, 4, 2, 2), (L, 1, 1, 64, 10, 1, 1, 1, 1)]
    assert _weight_rows(table) == expected
    # MACs by hand: k^2 (C_in / g) C_out P
    macs = (25 * 3 * 8 * 64 + 9 * 8 * 16 * 16 + 9 * 1 * 16 * 16 + 1 * 4 * 32 * 16 + 16 * 32 * 4 + 64 * 10)
    assert net.macs == macs
    cost = hwmodel.get_preset("puma-32nm").evaluate(table)
    assert cost.macs[0] == macs
    # weight-free traffic: maxpool 32x2x2 x2, add 32x2x2 x3, avgpool 32x2x2 x2, concat 64x2x2 x2, gap 64 x2
    assert table.act_elems[0] == 128 * 2 + 128 * 3 + 128 * 2 + 256 * 2 + 64 * 2
    assert table.n_skip[0] == 1
    assert table.n_pool[0] == 2  # the max pooling and the average pooling (not the global one)
    layer = net.weight_layers[1]
    assert (layer.kernel, layer.stride, layer.padding, layer.dilation) == ((3, 3), (2, 2), (2, 2), (2, 2))
    assert net.weight_layers[2].groups == 16 and net.weight_layers[3].groups == 4
    # crossbars of the depthwise layer: 16 groups x ceil(9 / 64) x ceil(1 x 4 slices / 64)
    slots = net.slot_layers()
    assert cost.crossbars[0, slots == 2].sum() == 16


class Functional(nn.Module):
    """The same kinds of op written with torch.nn.functional and tensor methods."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(6, 3, 3, 3))
        self.w2 = nn.Parameter(torch.randn(4, 6))
        self.register_buffer("mean", torch.full((3,), 0.5))

    def forward(self, x):
        x = (x - self.mean[None, :, None, None]) * 2.0  # normalization with constants: free
        x = F.conv2d(x, self.w1, stride=1, padding=1)
        x = F.max_pool2d(x, 2)
        x = x + x.clone().relu()  # an add of two activations
        x = x.mean(dim=(2, 3))
        return F.linear(x, self.w2)


def test_functional_ops():
    net = import_torch(Functional(), (3, 8, 8))
    assert [layer.op for layer in net.layers] == ["conv", "maxpool", "add", "gap", "linear"]
    table = net.layer_table(32)
    assert _weight_rows(table) == [(KIND_CONV, 3, 1, 3, 6, 8, 8, 8, 8), (KIND_LINEAR, 1, 1, 6, 4, 1, 1, 1, 1)]
    assert net.macs == 27 * 6 * 64 + 24
    assert table.act_elems[0] == 6 * 16 * 2 + 6 * 16 * 3 + 6 * 2


class Mul(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.gate = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x) * torch.sigmoid(self.gate(x))


class Up(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Upsample(scale_factor=2))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("module, words", [
    (Up(), ["Upsample", "'body.1'"]),
    (Mul(), ["mul of two activations", "'<top>'"]),
    (nn.Sequential(nn.Conv2d(3, 4, (1, 3))), ["non-square 1x3", "'0'"]),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 6, 6])), ["LayerNorm", "'1'"]),
])
def test_unsupported_ops_name_the_op_and_path(module, words):
    with pytest.raises(ArchitectureError) as info:
        import_torch(module, (3, 8, 8))
    message = str(info.value)
    assert "\n" not in message and "unsupported operation" in message
    for word in words:
        assert word in message


def test_bad_input_is_one_line():
    with pytest.raises(FastnaxError, match="input shape"):
        import_torch(nn.Conv2d(3, 4, 3), (3, 8))
    with pytest.raises(FastnaxError, match="does not run on an input"):
        import_torch(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(7, 2)), (3, 8, 8))
    with pytest.raises(FastnaxError, match="no convolution or linear"):
        import_torch(nn.Sequential(nn.MaxPool2d(2)), (3, 8, 8))
    with pytest.raises(FastnaxError, match="2 sizes for 6 weight layers"):
        import_torch(EveryOp(), (3, 12, 12)).layer_table([64, 128])


def test_training_mode_and_hooks_restored():
    module = EveryOp().train()
    import_torch(module, (3, 12, 12))
    assert module.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


@pytest.mark.parametrize("name", ["resnet20", "vgg8"])
def test_space_baselines_import_to_their_own_table(name):
    from fastnax.train import build_model

    space = spaces.get("imc")
    arch = space.baseline(name)
    reference = LayerTable.from_architectures([arch])
    knobs = {k: int(getattr(reference, k)[0]) for k in ("w_bits", "in_bits", "cell_bits", "adc_rule")}
    sizes = [layer.crossbar_size for layer in arch.weight_layers]
    imported = import_torch(build_model(arch), (3, 32, 32)).layer_table(sizes, **knobs)
    for field in dataclasses.fields(LayerTable):
        # the spaces' tables count no pooling tiles and carry no dataflow (a chain)
        if field.name != "n_pool" and field.name not in LayerTable.DATAFLOW:
            assert np.array_equal(getattr(imported, field.name), getattr(reference, field.name)), field.name
    assert imported.n_pool[0] == sum(layer.op in ("maxpool", "avgpool") for layer in arch.layers)
    same = dataclasses.replace(imported, n_pool=reference.n_pool,  # (mnsim2 prices pooling tiles
                               **{name: getattr(reference, name) for name in LayerTable.DATAFLOW})  # and dataflow)
    for preset in hwmodel.presets():
        model = hwmodel.get_preset(preset)
        a, b = model.evaluate(reference), model.evaluate(same)
        for total in ("energy_pj", "latency_ns", "area_mm2", "edap"):
            assert getattr(a, total)[0] == getattr(b, total)[0], (preset, total)


def test_neurosim_rows_of_imported_network():
    from fastnax.hwmodel.export import neurosim_rows
    from fastnax.train import build_model

    arch = spaces.get("imc").baseline("vgg8")
    net = import_torch(build_model(arch), (3, 32, 32))
    assert net.neurosim_rows() == neurosim_rows(arch)


# --- ONNX -----------------------------------------------------------------------------------
def _onnx_model():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="stem", kernel_shape=[5, 5]),  # 12 -> 8
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn1"], name="bn"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=8),
        helper.make_node("Add", ["c2", "r1"], ["a1"], name="res"),
        helper.make_node("MaxPool", ["a1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),  # 8 -> 4
        helper.make_node("Conv", ["p1", "w3"], ["c3"], name="proj", kernel_shape=[1, 1]),
        helper.make_node("Concat", ["c3", "p1"], ["cat"], name="cat", axis=1),  # 16 + 8
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "w4", "b4"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w1", 8, 3, 5, 5), init("w2", 8, 1, 3, 3), init("w3", 16, 8, 1, 1), init("w4", 10, 24),
             init("b4", 10)] + [init(n, 8) for n in ("g", "b", "m")] + \
            [numpy_helper.from_array(np.ones(8, np.float32), "v")]
    graph = helper.make_graph(nodes, "everyop", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                               [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_graph_matches_hand_counts(tmp_path):
    model = _onnx_model()
    import onnx

    path = tmp_path / "net.onnx"
    onnx.save(model, str(path))
    net = import_onnx(path)
    assert [layer.op for layer in net.layers] == ["conv", "conv", "add", "maxpool", "conv", "concat", "gap", "linear"]
    table = net.layer_table(64)
    C, L = KIND_CONV, KIND_LINEAR
    assert _weight_rows(table) == ([(C, 5, 1, 3, 8, 12, 12, 8, 8)] + [(C, 3, 1, 1, 1, 8, 8, 8, 8)] * 8
                                   + [(C, 1, 1, 8, 16, 4, 4, 4, 4), (L, 1, 1, 24, 10, 1, 1, 1, 1)])
    assert net.macs == 75 * 8 * 64 + 9 * 8 * 64 + 8 * 16 * 16 + 240
    assert table.act_elems[0] == 8 * 64 * 3 + 8 * 16 * 2 + 24 * 16 * 2 + 24 * 2
    # the same shapes from an explicit --input-shape
    assert import_onnx(path, (3, 12, 12)).layers == net.layers


def test_onnx_external_weights_are_never_opened(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "net.onnx"
    onnx.save(_onnx_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()  # only the graph's shapes are read
    assert import_onnx(path).macs == 75 * 8 * 64 + 9 * 8 * 64 + 8 * 16 * 16 + 240


def test_onnx_unsupported_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    model = _onnx_model()
    model.graph.node.insert(3, helper.make_node("LRN", ["r1"], ["lrn"], name="norm", size=3))
    model.graph.node[4].input[0] = "lrn"
    with pytest.raises(ArchitectureError, match=r"unsupported operation ONNX LRN at module path 'norm'"):
        import_onnx(model)
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(ArchitectureError, match="not a readable ONNX model"):
        import_onnx(path)


# --- the command line ----------------------------------------------------------------------
MODEL_FILE = '''
from torch import nn

def lenet():
    return nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10))
'''


def _hw(*args):
    return subprocess.run([sys.executable, "-m", "fastnax.cli", "hw", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)


def test_cli_prices_an_imported_model(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(MODEL_FILE)
    csv = tmp_path / "NetWork.csv"
    done = _hw("--model", f"{path}:lenet", "--input-shape", "3,32,32", "--crossbar-sizes", "64,128",
               "--preset", "neurosim-22nm-rram", "--export-neurosim", str(csv), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["crossbar_size"] for r in result["results"]] == [64, 128]
    first = result["results"][0]
    assert len(first["layers"]) == 4 and first["macs"] == 6 * 75 * 784 + 16 * 150 * 100 + 48000 + 1200
    # the pools' traffic (6x14x14 and 16x5x5 elements, read and written) is the rest of the energy
    traffic = (6 * 14 * 14 + 16 * 5 * 5) * 2 * 8 * hwmodel.get_preset("neurosim-22nm-rram").buffer.energy_pj_per_bit
    assert result["act_elems"] == (6 * 14 * 14 + 16 * 5 * 5) * 2
    assert math.isclose(sum(r["energy_pj"] for r in first["layers"]) + traffic, first["energy_pj"], rel_tol=1e-9)
    assert csv.read_text().splitlines()[0] == "32,32,3,5,5,6,1,1"
    text = _hw("--model", f"{path}:lenet", "--input-shape", "3,32,32", "--crossbar-size", "256")
    assert text.returncode == 0 and "conv" in text.stdout and "256" in text.stdout


def test_cli_onnx_and_errors(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "net.onnx"
    onnx.save(_onnx_model(), str(path))
    done = _hw("--model", str(path), "--crossbar-size", "128", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["macs"] == 75 * 8 * 64 + 9 * 8 * 64 + 8 * 16 * 16 + 240
    bad = _hw("--model", f"{tmp_path}/missing.py:make", "--input-shape", "3,8,8")
    assert bad.returncode != 0 and "model file not found" in bad.stderr and "Traceback" not in bad.stderr
    source = tmp_path / "nets.py"
    source.write_text(MODEL_FILE)
    for args, words in ((["--model", f"{source}:lenet"], "needs --input-shape"),
                        (["--model", f"{source}:nope", "--input-shape", "3,32,32"], "no callable 'nope'"),
                        (["--model", f"{source}:lenet", "--input-shape", "3,x,32"], "--input-shape"),
                        (["--model", f"{source}:lenet", "--input-shape", "3,32,32", "--crossbar-sizes", "64,a"],
                         "--crossbar-sizes"),
                        (["--model", f"{source}:lenet", "--input-shape", "3,32,32", "--arch", "x"],
                         "--model")):
        done = _hw(*args)
        assert done.returncode != 0 and words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
