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
"""

from __future__ import annotations

from fastnax.hwmodel.model import HardwareModel, register_preset
from fastnax.hwmodel.nonideal import NonIdeality
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
    nonideality=NonIdeality(),
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
    nonideality=NonIdeality(),
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

for _model in (PUMA_32NM, NEUROSIM_22NM_RRAM, NEUROSIM_22NM_SRAM):
    register_preset(_model)
