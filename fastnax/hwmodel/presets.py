"""The built-in hardware presets: documented, sourced constants (named instances, not copies of code).

Importing this module registers them (:func:`fastnax.hwmodel.register_preset`); ``fastnax.hwmodel``
does so on import.

``puma-32nm``
    The ISAAC/PUMA-derived constants used by NAX-style crossbar-size studies (32 nm, 1 GHz; Shafiee
    et al., ISCA 2016 'ISAAC'; Ankit et al., ASPLOS 2019 'PUMA'; Negi et al., DAC 2022 'NAX'):
    crossbar MVM energy 0.075 / 0.6 / 4.8 / 38.4 pJ at N = 16 / 32 / 64 / 128 (power 0.0047 /
    0.019 / 0.075 / 0.3 mW over an N-ns read, i.e. ``38.4 (N/128)^3`` pJ); crossbar area 0.39 /
    1.56 / 6.25 / 25 um^2 (``25 (N/128)^2``); 2-bit cells; ADC bits ``ceil(log2(3N))`` (6 / 7 / 8 /
    9); ADC 0.225 mW and 12.5 ns per bit (1.35 / 1.575 / 1.8 / 2.025 pJ and 75 / 87.5 / 100 / 112.5
    ns per conversion), 0.00015 mm^2 per bit (0.0009 / 0.00105 / 0.0012 mm^2 at 6 / 7 / 8 bits),
    one ADC per column; 1-bit DAC 0.0035 mW (0.0035 pJ per 1-ns cycle), 1.67e-7 mm^2; MVM latency
    ``t_adc (in_bits / dac_bits + 2)``. Shift-and-add 0.05 mW per unit (0.05 pJ per conversion),
    0.00006 mm^2 per unit, one unit per two crossbars (ISAAC: 4 per 8-crossbar IMA); eDRAM buffer
    64 KB, 20.7 mW at a 256-bit bus (0.067 pJ/bit, 256 bits/ns) (ISAAC Table 6).

``neurosim-22nm-rram`` / ``neurosim-22nm-sram``
    DNN+NeuroSim V1.4 defaults (Peng et al., IEDM 2019; Lee et al., 2024): 22 nm, 1 GHz, 128x128
    arrays, 1 bit per cell, 8 columns share a 5-bit ADC, RRAM R_on 100 kohm with on/off 17, SRAM
    8T cells. The constants below are first-order circuit estimates at 22 nm (documented per field)
    plus three constants *calibrated on one published row only* (the V1.4 manual's VGG-8 RRAM,
    32 rows read in parallel, 4-bit ADC: 11.25 TOPS/W, 6.25 TOPS, 381.9 mm^2):

    - ADC energy per level (common to RRAM and SRAM): fitted to the TOPS/W;
    - replication (NeuroSim duplicates arrays of early layers to balance the pipeline; common):
      fitted to the TOPS;
    - RRAM line periphery area (write-voltage level shifters, switch matrices; RRAM only): fitted
      to the area.

    ``benchmarks/hwmodel_anchors.py`` re-does this fit from the uncalibrated values and reports it;
    the RRAM 64-row and SRAM rows are predictions.

``mnsim2``
    MNSIM 2.0 (Zhu et al., TCAD 2023) as its public repository ships it: ``SimConfig.ini`` and the
    component tables of ``MNSIM/Hardware_Model``, field by field below (nothing fitted). 1T1R RRAM
    at 130 nm, 1 bit per cell (``Device_Level = 2``), a positive and a negative crossbar per weight
    (``Xbar_Polarity = 2``) sharing 128 ADCs and 128 row DACs (``ADC_Num``, ``DAC_Num``), 2x2
    processing elements per tile (``PE_Num``), ADC choice 6 (``ADC_Choice``), a 64-bit 90 nm SRAM
    buffer (``Buffer_Choice``, ``Buffer_Technology``, ``Buffer_Bitwidth``), 20 Gbps between tiles
    (``Inter_Tile_Bandwidth``), the layer pipeline of MNSIM's default latency mode. Its mapping
    conventions (kernel-aligned rows, one weight slice per crossbar, periphery of the used rows
    and columns, whole tiles, tile buffers and inter-tile transfers) are
    :class:`fastnax.hwmodel.mapping.MappingSpec`'s, with their sources there. MNSIM's networks
    quantize to 9-bit signed weights and 9-bit inputs: price them with ``w_bits = 8`` (the
    magnitude, the sign being the crossbar pair), ``in_bits = 9``, ``cell_bits = 1``.
    :func:`mnsim2_model` builds the same model with any of MNSIM's nine ADC designs
    (:data:`MNSIM_ADC_DESIGNS`). MNSIM's tile per pooling layer is counted for imported networks
    (``LayerTable.n_pool``; the spaces' tables carry none). Not modelled: its global
    accumulator of residual additions, the digital shift-and-add energy (< 0.5 % of MNSIM's total
    on its networks), and the per-network buffer sizing (the 1 KB buffer's power throughout).
"""

from __future__ import annotations

from fastnax.errors import unknown
from fastnax.hwmodel.mapping import MappingSpec
from fastnax.hwmodel.model import HardwareModel, register_preset
from fastnax.hwmodel.nonideal import NonIdeality
from fastnax.hwmodel.nonideal_presets import DEFAULT_RRAM
from fastnax.hwmodel.specs import AdcSpec, BufferSpec, CrossbarSpec, DacSpec, PeripherySpec, ScheduleSpec

# --- the three NeuroSim constants fitted on the RRAM 32-row VGG-8 row (see module docstring) ----
NEUROSIM_ADC_ENERGY_PJ_PER_LEVEL = 0.003768
NEUROSIM_REPLICATION = 3.9888
NEUROSIM_RRAM_LINE_AREA_UM2 = 155.01

PUMA_32NM = HardwareModel(
    name="puma-32nm",
    technology_nm=32.0,
    clock_ghz=1.0,
    description="ISAAC/PUMA-derived 32 nm constants of NAX-style crossbar-size studies",
    crossbar=CrossbarSpec(energy_pj_at_128=38.4, energy_exponent=3.0, area_um2_at_128=25.0,
                          area_exponent=2.0, bitline_energy_pj_at_128=0.0, read_latency_ns=0.0,
                          rows_parallel=0, differential=False),
    adc=AdcSpec(rule="partial_sum", bits=8, scaling="linear", energy_pj_per_unit=0.225,
                latency_ns_per_unit=12.5, area_mm2_per_unit=0.00015, columns_per_adc=1),
    dac=DacSpec(bits=1, energy_pj=0.0035, area_mm2=1.67e-7),
    periphery=PeripherySpec(shift_add_energy_pj=0.05, shift_add_area_mm2=0.00003, line_area_um2=0.0,
                            tile_overhead=0.0),
    buffer=BufferSpec(energy_pj_per_bit=0.067, bandwidth_bits_per_ns=256.0),
    schedule=ScheduleSpec(pipeline_fill_steps=2.0, replication=1.0, layer_pipelined=False),
    nonideality=DEFAULT_RRAM,
)

# 22 nm first-order estimates shared by both NeuroSim presets (see field comments).
_NEUROSIM_ADC = AdcSpec(
    rule="fixed", bits=5,
    # NeuroSim reads partial sums with multi-level sense amplifiers / flash-like ADCs: cost grows
    # with the number of levels 2^b - 1.
    scaling="levels",
    energy_pj_per_unit=NEUROSIM_ADC_ENERGY_PJ_PER_LEVEL,  # calibrated (RRAM 32-row row)
    latency_ns_per_unit=1.0 / 31.0,  # one 1-ns clock per conversion at the default 5 bits
    area_mm2_per_unit=20e-6,  # ~20 um^2 per sense-amplifier/comparator level at 22 nm
    columns_per_adc=8,  # NeuroSim default: 8 columns share one ADC through a multiplexer
)
_NEUROSIM_DAC = DacSpec(bits=1, energy_pj=0.01,  # word line: ~13 fF (128 cells) at 0.8 V + driver
                        area_mm2=1e-6)  # ~1 um^2 word-line driver
_NEUROSIM_BUFFER = BufferSpec(energy_pj_per_bit=0.1,  # 22 nm SRAM buffer + H-tree, ~0.1 pJ/bit
                              bandwidth_bits_per_ns=64.0)  # 64-bit global bus at 1 GHz
_NEUROSIM_SCHEDULE = ScheduleSpec(pipeline_fill_steps=0.0,
                                  replication=NEUROSIM_REPLICATION,  # calibrated (RRAM 32-row row)
                                  layer_pipelined=False)

NEUROSIM_22NM_RRAM = HardwareModel(
    name="neurosim-22nm-rram",
    technology_nm=22.0,
    clock_ghz=1.0,
    description="DNN+NeuroSim V1.4 defaults, RRAM 1T1R, 22 nm; 3 constants calibrated on VGG-8 RRAM 32 rows",
    crossbar=CrossbarSpec(
        # 1T1R cell read at 0.2 V through R_on = 100 kohm (2 uA, 1 ns): ~0.4 fJ per ON cell, about
        # half the cells ON: 16384 cells x 0.2 fJ.
        energy_pj_at_128=3.3, energy_exponent=2.0,
        area_um2_at_128=16384 * 12 * 0.022 ** 2,  # 12 F^2 1T1R cell
        area_exponent=2.0,
        bitline_energy_pj_at_128=0.001,  # 25 fF bit line at a ~0.2 V swing
        read_latency_ns=1.0, rows_parallel=0, differential=False),
    adc=_NEUROSIM_ADC,
    dac=_NEUROSIM_DAC,
    periphery=PeripherySpec(shift_add_energy_pj=0.02,  # 22 nm accumulator add, ~20 fJ
                            shift_add_area_mm2=16 * 100e-6,  # one ~100 um^2 accumulator per ADC
                            line_area_um2=NEUROSIM_RRAM_LINE_AREA_UM2,  # calibrated (RRAM 32 rows)
                            tile_overhead=0.3),  # buffers, H-tree, pooling/activation units
    buffer=_NEUROSIM_BUFFER,
    schedule=_NEUROSIM_SCHEDULE,
    nonideality=DEFAULT_RRAM,
)

NEUROSIM_22NM_SRAM = HardwareModel(
    name="neurosim-22nm-sram",
    technology_nm=22.0,
    clock_ghz=1.0,
    description="DNN+NeuroSim V1.4 defaults, 8T SRAM, 22 nm; shares the RRAM preset's calibrated ADC and replication",
    crossbar=CrossbarSpec(
        energy_pj_at_128=0.0,  # digital cells: the read energy is the bit-line swing below
        energy_exponent=2.0,
        area_um2_at_128=16384 * 0.15,  # 8T SRAM cell ~0.15 um^2 at 22 nm
        area_exponent=2.0,
        bitline_energy_pj_at_128=0.016,  # 25 fF read bit line at 0.8 V full swing
        read_latency_ns=1.0, rows_parallel=0, differential=False),
    adc=_NEUROSIM_ADC,
    dac=_NEUROSIM_DAC,
    periphery=PeripherySpec(shift_add_energy_pj=0.02, shift_add_area_mm2=16 * 100e-6,
                            line_area_um2=1.0,  # standard 0.8 V write drivers, ~1 um^2 per line
                            tile_overhead=0.3),
    buffer=_NEUROSIM_BUFFER,
    schedule=_NEUROSIM_SCHEDULE,
    # SRAM stores exact bits: no programming variation, faults or drift; IR drop and ADC remain.
    nonideality=NonIdeality(conductance_sigma=0.0, stuck_at_gmin_rate=0.0, stuck_at_gmax_rate=0.0,
                            drift_nu_sigma=0.0),
)

#: MNSIM 2.0's ADC designs (``MNSIM/Hardware_Model/ADC.py``, the published design each cites):
#: choice -> (bits, power in mW, sample rate in GS/s, area in um^2, reference). A conversion takes
#: ``(bits + 2) / rate`` ns (``1 / rate`` for the 1-bit sense amplifier, ``2^bits / rate`` for
#: choice 9) and costs power x time.
MNSIM_ADC_DESIGNS = {
    1: (10, 6.92, 1.5, 1600.0, "10b 1.5GS/s pipelined-SAR, 14 nm FinFET"),
    2: (8, 2.0, 1.28, 1200.0, "ISAAC (ISCA 2016)"),
    3: (8, 4.0, 1.1, 1650.0, ">3GHz ERBW 1.1GS/s 8b two-step SAR"),
    4: (6, 1.26, 1.0, 580.0, "area-efficient 1GS/s 6b SAR"),
    5: (8, 4.0, 1.1, 1650.0, "ASPDAC1"),
    6: (6, 1.26, 1.0, 1650.0, "ASPDAC2"),
    7: (4, 0.7, 1.0, 500.0, "ASPDAC3"),
    8: (1, 0.1086 * 15e-3, 1.0, 1.0, "sense amplifier, 28 nm"),
    9: (8, 8 * 0.0073, 6.0, 15899.0, "Qi Liu"),
}


def mnsim_adc(choice: int) -> AdcSpec:
    """The :class:`AdcSpec` of MNSIM 2.0's ADC design ``choice`` (a key of :data:`MNSIM_ADC_DESIGNS`)."""
    if choice not in MNSIM_ADC_DESIGNS:
        raise unknown("MNSIM ADC choice", str(choice), [str(c) for c in MNSIM_ADC_DESIGNS])
    bits, power_mw, rate, area_um2, _ = MNSIM_ADC_DESIGNS[choice]
    if bits == 1:
        latency = 1.0 / rate
    elif choice == 9:
        latency = 2.0 ** bits / rate
    else:
        latency = (bits + 2) / rate
    return AdcSpec(rule="fixed", bits=bits, scaling="design", energy_pj_per_unit=power_mw * latency,
                   latency_ns_per_unit=latency, area_mm2_per_unit=area_um2 * 1e-6, columns_per_adc=1)


def mnsim2_model(adc_choice: int = 6) -> HardwareModel:
    """MNSIM 2.0's shipped configuration with ADC design ``adc_choice`` (6 is ``SimConfig.ini``'s:
    the ``mnsim2`` preset); named ``mnsim2`` or ``mnsim2-adcC``."""
    return HardwareModel(
        name="mnsim2" if adc_choice == 6 else f"mnsim2-adc{adc_choice}",
        technology_nm=130.0,  # SimConfig.ini Device_Tech / Transistor_Tech
        clock_ghz=0.5,  # SimConfig.ini Digital_Frequency = 500 MHz
        description=f"MNSIM 2.0 SimConfig.ini and component tables, ADC choice {adc_choice}",
        crossbar=CrossbarSpec(
            # Crossbar.py: a read cell draws 75.8 nW at the 0.15 V read voltage (SimConfig
            # Read_Voltage, Device_Resistance 1e6 / 1e4 ohm), 1.24 mW for 128x128 cells, over the
            # 3.16 ns read (SimConfig Read_Latency): 3.92 pJ; cells scale as N^2
            energy_pj_at_128=1.2412e-3 * 3.16 * 1e3, energy_exponent=2.0,
            area_um2_at_128=1.44 * 128 * 128,  # SimConfig Device_Area 1.44 um^2 per cell
            area_exponent=2.0,
            bitline_energy_pj_at_128=0.0,  # in the cell read power above
            read_latency_ns=3.16 + 3.0,  # array read (SimConfig Read_Latency) + DAC (DAC.py choice 1: 3 ns)
            rows_parallel=128,  # SimConfig DAC_Num: 128 rows driven at once
            differential=True),  # SimConfig Xbar_Polarity = 2
        adc=mnsim_adc(adc_choice),  # ADC.py tables, SimConfig ADC_Choice
        dac=DacSpec(bits=1,  # DAC.py choice 1 (SimConfig DAC_Choice): 1 bit,
                    energy_pj=3.9e-6 * 3.0 * 1e3,  # 3.9 uW over 3 ns
                    area_mm2=0.166e-6),  # 0.166 um^2
        periphery=PeripherySpec(
            shift_add_energy_pj=0.0,  # MNSIM's digital energy is < 0.5 % of its total: left out
            shift_add_area_mm2=0.0,  # in the tile's digital area below
            line_area_um2=1150.0 / 2,  # Crossbar.py: a 1150 um^2 driver per row (N rows = 2N lines)
            tile_overhead=0.0),  # tiles are explicit (mapping)
        # Buffer.py, SRAM at 90 nm (SimConfig Buffer_Choice 1, Buffer_Technology 90), 1 KB: a
        # 64-bit access (SimConfig Buffer_Bitwidth) every 20 ns; 27.7 pJ per read and 33.3 pJ per
        # write of 64 bits, 0.476 pJ/bit on average
        buffer=BufferSpec(energy_pj_per_bit=(27.69806 + 33.26466) / 2 / 64, bandwidth_bits_per_ns=64 / 20.0),
        schedule=ScheduleSpec(pipeline_fill_steps=0.0, replication=1.0,
                              layer_pipelined=True),  # main.py: calculate_model_latency(mode=1)
        mapping=MappingSpec(
            rows="kernel_aligned", slices="per_crossbar", periphery="used",
            adcs_per_crossbar=128,  # SimConfig ADC_Num (per crossbar pair: analog subtraction, Sub_Position 0)
            crossbars_per_tile=4,  # SimConfig PE_Num = 2,2 (a PE is one crossbar pair)
            # MNSIM's tile area parts besides its PEs' crossbars, ADCs and DACs, from its area model
            # on SimConfig.ini (Tile.py): buffers 202,901.5 um^2 (Buffer.py), 64 pooling units
            # 91,917.2 um^2 (Pooling.py, SimConfig Pooling_unit_num), adders, shift and other
            # registers, multiplexers and joint modules 67,919.7 um^2 (Adder.py, ShiftReg.py,
            # Reg.py, JointModule.py, PE.py)
            tile_area_mm2=(202901.5 + 91917.1562 + 67919.7484) * 1e-6,
            tiles_per_pool=1,  # Tile_connection_graph.py: a pooling layer takes one tile
            # Buffer.py, 1 KB SRAM at 90 nm: 1.385 mW reading, 1.663 mW writing (mean)
            buffer_power_mw_per_crossbar=(1.384903 + 1.663233) / 2,
            # Tile.py: a tile's buffer power is its PEs' input buffers plus its own output buffer;
            # Buffer.py: every access takes ceil(bits / 64) cycles of the 64-bit port (Buffer_Bitwidth)
            tile_buffers=1, buffer_word_bits=64,
            line_buffer="raster",  # Model_latency.py mode=1: the loads of each pixel in raster order
            transfer_bits_per_ns=20.0,  # SimConfig Inter_Tile_Bandwidth = 20 Gbps
            # Tile_connection_graph.py: tiles along its corner spiral (SimConfig Tile_Connection = 2)
            # on the 64 x 64 mesh (SimConfig Tile_Num), each layer's aggregator tile chosen there
            placement="spiral", mesh_tiles=64,
            hop_latency_ns=2.0,  # Model_latency.py: a merge hop takes one digital period (500 MHz)
            # Model_latency.py calculate_model_latency(mode=1), main.py's: a pixel-level pipeline
            # with the pooling and element-sum layers as stages; Pooling.py: 100 ns per pass of
            # 64 channels (SimConfig Pooling_unit_num) over a 3 x 3 window (Pooling_shape);
            # Model_latency.py: an element sum takes 10 ns besides its buffer and transfer
            pipeline="pixel", pool_latency_ns=100.0, pool_units=64, pool_window=9, add_latency_ns=10.0),
        nonideality=DEFAULT_RRAM,
    )


MNSIM2 = mnsim2_model(6)

for _model in (PUMA_32NM, NEUROSIM_22NM_RRAM, NEUROSIM_22NM_SRAM, MNSIM2):
    register_preset(_model)
