"""Named non-ideality configurations, every constant with its source (registered on import).

The RRAM hardware presets (``puma-32nm``, ``neurosim-22nm-rram``, ``mnsim2``) simulate and price
their chips with :data:`DEFAULT_RRAM`, ``rram-wan2022-1d``: a measured array (NeuRRAM, through
aihwkit's fit of it, below) one day after programming. ``--nonideality NAME|FILE`` picks another.

- ``rram-fastnax-default``: fastnax's own RRAM figures, the hardware presets' non-idealities until
  2026-12 (the :class:`NonIdeality` defaults). Each constant is a round figure inside a published
  range (see the field docstrings: NeuRRAM's 2-5 % write-verify variation, the 0.1-1 % stuck-at
  rates that fault-tolerance studies sweep, a few percent of IR drop at 128x128); it is *not* the
  measurement of one device, its drift is referred to the whole conductance range with the mean
  taken as compensated, and measured against aihwkit's PCM model (issue 18) it costs a plainly
  trained ResNet-20 on digits ~7 points at 1 h where aihwkit's PCM costs 0.2: the stuck-at faults
  dominate. The packaged CIFAR-10 records (and so the packaged CIFAR-10 predictor) were measured
  under it: a record that names no hardware reads as ``puma-32nm+rram-fastnax-default``
  (:data:`fastnax.datasets.records.DEFAULT_HARDWARE`). Kept, named, for those records and for
  comparisons; no longer any preset's default.
- ``pcm-aihwkit``: IBM aihwkit's PCM inference model (``aihwkit.inference.noise.pcm.
  PCMLikeNoiseModel`` with its defaults, the ``InferenceRPUConfig`` defaults, aihwkit 1.1.0),
  fitted on PCM devices by Nandakumar et al., ICECS 2019 (doi:10.1109/ICECS46596.2019.8964852).
- ``pcm-aihwkit-x2``, ``pcm-aihwkit-x4``: the same with aihwkit's ``prog_noise_scale`` and
  ``read_noise_scale`` at 2 and 4 (the regime where noise-aware training pays, issue 18).
- ``rram-wan2022``, ``rram-wan2022-1d``, ``rram-wan2022-2d``: aihwkit's ReRAM inference model
  (``aihwkit.inference.noise.reram.ReRamWan2022NoiseModel``, aihwkit 1.1.0), a fit to the
  measurements of the NeuRRAM chip (Wan et al., Nature 608, 504-512, 2022,
  doi:10.1038/s41586-022-04992-8; HfOx RRAM, 1T1R, write-verify): the conductance's deviation from
  its target as a quartic in ``g / g_max``, fitted at 1 s, 1 day and 2 days after programming. Each
  preset is that snapshot: the deviation at its time is a fresh draw around the target (aihwkit's
  ``apply_drift_noise_to_conductance``), so there is no drift law and ``at_time`` does not change
  it. The fit holds no stuck-at faults, IR drop or read noise (aihwkit suggests ~1 % of
  ``w_noise`` for short-term read noise; left out here, as in its model). The coefficients are
  referred to the fit's ``g_max = 40 uS`` (``prog_coeff_g_max_reference``); aihwkit 1.1.0 itself
  scales them by its converter's ``g_max`` (25 uS by default), i.e. 1.6x larger relative errors.
- ``none``: ideal cells and wires (no variation, faults, drift, IR drop or output noise; the ADC
  rounding of the hardware model remains, as it is the hardware's own).
"""

from __future__ import annotations

import dataclasses

from fastnax.hwmodel.nonideal import NonIdeality, register_nonideality

#: aihwkit's default maximal conductance, uS (``SinglePairConductanceConverter.g_max = 25.0``),
#: which is also the reference of the programming-noise polynomial
#: (``PCMLikeNoiseModel.prog_coeff_g_max_reference = 25.0``).
AIHWKIT_G_MAX_US = 25.0

#: ``PCMLikeNoiseModel.prog_coeff`` (uS): ``sigma_prog = c0 + c1 (g/g_max) + c2 (g/g_max)^2``.
AIHWKIT_PROG_COEFF_US = (0.26348, 1.9650, -1.1731)

#: aihwkit's ``IOParameters`` defaults of the inference forward pass (documentation for
#: comparisons; fastnax prices its own DAC/ADC from the hardware model): DAC ``inp_res = 1 / (2^7
#: - 2)`` over ``inp_bound = 1``, ADC ``out_res = 1 / (2^9 - 2)`` over ``out_bound = 12``, output
#: noise ``out_noise = 0.06``, no weight noise, no IR drop (``ir_drop = 0``), noise management
#: ``ABS_MAX`` and iterative bound management; tiles of at most 512 x 512
#: (``MappingParameter.max_input_size = max_output_size = 512``).
AIHWKIT_IO = {"inp_res": 1.0 / (2 ** 7 - 2), "inp_bound": 1.0, "out_res": 1.0 / (2 ** 9 - 2),
              "out_bound": 12.0, "out_noise": 0.06, "w_noise": 0.0, "ir_drop": 0.0,
              "max_tile_size": 512, "dac_bits": 7, "adc_bits": 9}

RRAM_FASTNAX_DEFAULT = NonIdeality(name="rram-fastnax-default")

PCM_AIHWKIT = NonIdeality(
    name="pcm-aihwkit",
    # programming noise: prog_coeff in uS at g_max = 25 uS, relative to g_max
    conductance_sigma=AIHWKIT_PROG_COEFF_US[0] / AIHWKIT_G_MAX_US,
    conductance_sigma_lin=AIHWKIT_PROG_COEFF_US[1] / AIHWKIT_G_MAX_US,
    conductance_sigma_quad=AIHWKIT_PROG_COEFF_US[2] / AIHWKIT_G_MAX_US,
    # no stuck-at faults in PCMLikeNoiseModel
    stuck_at_gmin_rate=0.0, stuck_at_gmax_rate=0.0,
    # IOParameters.ir_drop = 0.0 (the inference config's default)
    ir_drop_at_128=0.0,
    # generate_drift_coefficients: mu = clip(-0.0155 ln(g/g_max) + 0.0244, 0.049, 0.1),
    # sigma = clip(-0.0125 ln(g/g_max) - 0.0059, 0.008, 0.045), nu = |mu + sigma z|
    drift_law="level",
    drift_nu_mean=0.0244, drift_nu_mean_log_slope=-0.0155, drift_nu_mean_min=0.049,
    drift_nu_mean_max=0.1,
    drift_nu_sigma=-0.0059, drift_nu_sigma_log_slope=-0.0125, drift_nu_sigma_min=0.008,
    drift_nu_sigma_max=0.045,
    # InferenceRPUConfig.drift_compensation = GlobalDriftCompensation()
    drift_compensation="global",
    # PCMLikeNoiseModel(t_0=20.0); apply_drift_noise_to_conductance uses t = t_inference + t_0
    drift_time_s=3600.0, drift_t0_s=20.0, drift_time_offset_s=20.0,
    # 1/f read noise: q_s = clip(0.0088 / clip((g/g_max)^0.65, 1e-3), max=0.2),
    # sigma = q_s sqrt(ln((t + t_read) / (2 t_read))), t_read = 250e-9 s
    read_noise_q=0.0088, read_noise_exponent=0.65, read_noise_q_max=0.2, read_noise_t_read_s=250e-9,
    # SinglePairConductanceConverter: w/max|w| = g+ - g-, the unused device at g_min = 0
    signed_code="pair",
    # IOParameters.out_noise = 0.06
    output_noise=AIHWKIT_IO["out_noise"],
)


def _scaled(base: NonIdeality, factor: float, name: str) -> NonIdeality:
    """aihwkit's ``prog_noise_scale = read_noise_scale = factor`` (the read scale multiplies the
    capped 1/f amplitude, so ``q`` and ``q_max`` both scale)."""
    return dataclasses.replace(
        base, name=name, conductance_sigma=base.conductance_sigma * factor,
        conductance_sigma_lin=base.conductance_sigma_lin * factor,
        conductance_sigma_quad=base.conductance_sigma_quad * factor,
        read_noise_q=base.read_noise_q * factor, read_noise_q_max=base.read_noise_q_max * factor)


PCM_AIHWKIT_X2 = _scaled(PCM_AIHWKIT, 2.0, "pcm-aihwkit-x2")
PCM_AIHWKIT_X4 = _scaled(PCM_AIHWKIT, 4.0, "pcm-aihwkit-x4")

#: ``ReRamWan2022NoiseModel``'s default ``coeff_dic`` (uS, ascending powers of ``g / g_max``; aihwkit
#: lists them descending) at 1 s, 1 day and 2 days, and the fit's reference ``g_max`` (uS).
WAN2022_COEFF_US = {
    1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
    86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
    172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
}
WAN2022_G_MAX_US = 40.0


def _wan2022(t_s: float, name: str) -> NonIdeality:
    c = [v / WAN2022_G_MAX_US for v in WAN2022_COEFF_US[t_s]]
    return NonIdeality(
        name=name,
        conductance_sigma=c[0], conductance_sigma_lin=c[1], conductance_sigma_quad=c[2],
        conductance_sigma_cubic=c[3], conductance_sigma_quartic=c[4],
        # not in the fit: no stuck-at faults, IR drop (IOParameters.ir_drop = 0), drift law or read noise
        stuck_at_gmin_rate=0.0, stuck_at_gmax_rate=0.0, ir_drop_at_128=0.0,
        drift_law="range", drift_nu_sigma=0.0, drift_time_s=t_s, read_noise_q=0.0,
        # SinglePairConductanceConverter (the model's default converter): a pair per weight
        signed_code="pair",
        # aihwkit's inference IOParameters default, as for pcm-aihwkit
        output_noise=AIHWKIT_IO["out_noise"],
    )


RRAM_WAN2022 = _wan2022(1.0, "rram-wan2022")
RRAM_WAN2022_1D = _wan2022(86400.0, "rram-wan2022-1d")
RRAM_WAN2022_2D = _wan2022(172800.0, "rram-wan2022-2d")

#: The RRAM hardware presets' non-idealities: NeuRRAM's measured conductance deviations one day
#: after programming (``rram-wan2022-1d``). A day rather than 1 s: a deployed chip is read long after
#: it was programmed, and a day is the time AnalogNAS-Bench reports first; the 2-day snapshot costs
#: a little more. No stuck-at faults or IR drop (the measured array's fit has none; a user with a
#: device's rates adds them in a ``--nonideality`` file over ``base = "rram-wan2022-1d"``).
DEFAULT_RRAM = RRAM_WAN2022_1D

NONE = NonIdeality(name="none", conductance_sigma=0.0, stuck_at_gmin_rate=0.0, stuck_at_gmax_rate=0.0,
                   ir_drop_at_128=0.0, drift_nu_sigma=0.0)

for _ni in (RRAM_FASTNAX_DEFAULT, PCM_AIHWKIT, PCM_AIHWKIT_X2, PCM_AIHWKIT_X4, RRAM_WAN2022, RRAM_WAN2022_1D,
            RRAM_WAN2022_2D, NONE):
    register_nonideality(_ni)
