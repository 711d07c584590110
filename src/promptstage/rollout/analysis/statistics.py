r"""The statistics of the release controller (SPEC §7): what it computes, and why.

Everything here is pure (no I/O, no clock, no randomness) and uses only :mod:`math`. The
controller reads the cumulative per-step, per-arm sums from the store, the clock, and the
release, and calls :func:`evaluate`, :func:`sample_ratio` and :func:`next_step`; it applies the
answer with :func:`transition`. The code lives in four modules re-exported here:
:mod:`~promptstage.rollout.analysis.sequential` (per-arm summaries, the confidence sequence),
:mod:`~promptstage.rollout.analysis.guardrails` (a look's decision),
:mod:`~promptstage.rollout.analysis.srm` (sample-ratio mismatch) and
:mod:`~promptstage.rollout.analysis.ramp` (state machine, ramp policy).

1. What is compared
-------------------
* **Sides.** The canary (bucket range ``[0, w)``, candidate version) against the units on the
  baseline version in the release's population: the equal-size control arm ``[5000, 5000 + w)``
  (:mod:`~promptstage.rollout.bucketing`) and the rest of the release's unit-keyed traffic
  (arm ``baseline``). At a 5 % canary that is 95 % of traffic instead of 5 %, so Var(Δ̂) is
  almost the canary's alone rather than twice it. A release with targeting rules is compared
  with its control arm only: its ``baseline`` arm also holds users the rules do not match.
  The equal-size control arm is also what the sample-ratio check balances against the canary.
* **Strata: one per ramp step.** Within a step the split is fixed, so a base rate drifting
  with the hour (time of day, traffic mix) hits both sides alike. Across steps it is not: the
  canary's units come mostly from the later, larger steps and the rest of the traffic's from
  the earlier ones, so pooling the steps would read drift as an effect (in the simulations of
  ``shared/reference/rollouts.md`` §8, and in ``tests/rollout/analysis/test_simulation.py``,
  the pooled comparison falsely rolled back 100 % of null ramps). So Δ̂ is the canary-weighted
  mean of the steps' differences
  (:func:`~promptstage.rollout.analysis.sequential.stratified_sequence`): the equal-size control
  arm achieves the same balance by growing with the canary, at twice the variance.
* **Unit.** The analysis unit is the bucketing unit (user, else conversation): calls of one
  unit are correlated and are never counted as independent observations.
* **Per-unit value.** For each metric a unit contributes *the mean of its calls' values*:
  the fraction of its calls that errored for ``error_rate``, its mean ``latency_ms`` and
  ``cost``, its mean score for a score name (``thumbs_down`` 0/1, ``csat`` 1-5...). A unit
  with no value for a metric (no rated call) is *missing* for that metric, never 0, and ``n``
  is counted per metric. The controller can aggregate in SQL: per unit ``AVG(value)``, then
  per arm ``COUNT(*)``, ``SUM(v)``, ``SUM(v*v)`` → :meth:`ArmStats.from_sums`.
* **Cumulative.** Each look uses everything since the release started (same salt), split by
  step but never restarted. A confidence sequence is valid at every look, however many, only
  over one growing sample.

2. The test: a one-sided anytime-valid confidence sequence
----------------------------------------------------------
For Δ = mean(canary) - mean(baseline version), with per-unit sample means x̄, unbiased sample
variances s² and unit counts n per side and step s, and the steps weighted by their canary
units λ_s = n_t,s / Σ n_t,s::

    Δ̂   = Σ λ_s (x̄_t,s - x̄_c,s)
    SE² = Σ λ_s² (s²_t,s / n_t,s + s²_c,s / n_c,s)     (Welch: each side keeps its own variance)
        + 2 Σ_{cells a < b} k_a k_b Σ_{u in a and b} (v_u,a - x̄_a)(v_u,b - x̄_b)
    n   = Σ (n_t,s + n_c,s),      sigma2 = n · SE²
    rho = sqrt((-2 ln(2 alpha) + ln(1 - 2 ln(2 alpha))) / n*)
    hw  = sqrt(sigma2 · 2(n rho² + 1) / (n² rho²) · ln(1 + sqrt(n rho² + 1) / (2 alpha)))

    harmful increase:  [Δ̂ - hw, +inf)          harmful decrease:  (-inf, Δ̂ + hw]

The second line of SE² is for users who come back in a later step: a cell is a (step, side),
``k = +λ_s / n_t,s`` for a canary cell and ``-λ_s / n_c,s`` for a baseline one, and the sum runs
over the units the two cells share (:class:`~promptstage.domain.releases.SharedUnits`). It
makes SE² the cluster-robust (per-unit) variance of Δ̂: a unit's values in two steps are
correlated, and treating the steps as independent would understate the variance when many
users return. With one step, or no unit in two steps, it is 0.

This is the asymptotic confidence sequence with a normal-mixture boundary of Waudby-Smith,
Arbour, Sinha, Kennedy and Ramdas (2021), "Time-uniform central limit theory and asymptotic
confidence sequences", arXiv:2103.06476 (the boundary SPEC §7 calls their eq. 134), in the
one-sided form GrowthBook uses for its safe rollouts (``gbstats`` frequentist
``SequentialOneSidedTreatment{Greater,Lesser}TTest``: ``sequential_rho`` at ``2*alpha`` and the
one-sided half-width above; GrowthBook's documentation on sequential testing). With probability
at least 1 - alpha (asymptotically, as units accrue) the true Δ lies in the interval *at every
look simultaneously*, so the controller may look every minute for the whole release. The price:
at alpha = 0.05 the half-width is 3.68 standard errors at n = 500, 2.89 at 2 000, 2.78 at 5 000,
2.87 at 20 000 and 3.09 at 100 000, against 1.645 for a single fixed-horizon test (repeating a
fixed test at every look gave 11-31 % false rollbacks in rollouts.md §8).

Choices:

* **n\* = 5 000** (GrowthBook's default): total units (both arms) at which the sequence is
  tightest; rollouts.md suggests about the units expected by the end of the first step. It is a
  parameter of :func:`evaluate`.
* **alpha = 0.05 one-sided, Bonferroni over guardrails**: each of ``k`` guardrails uses
  ``alpha / k``, so the chance that *any* guardrail ever falsely rolls back a harmless release
  stays ≤ alpha. One-sided, because only harm triggers an action.
* **Welch variance, normal approximation** (asymptotic CS): fine at the ``min_units`` default
  of 100 per arm; for rare binary events the ``min_units`` gate matters most.
* **Degenerate arms.** Fewer than 2 units in an arm: the variance is unknown, ``hw = +inf``
  (the interval says nothing). Both arms with zero variance (e.g. no errors anywhere):
  ``hw = 0`` and the bound is Δ̂ itself, so two constant arms at the same level are "ok" and
  at different levels differ for certain; the ``min_units`` gate keeps this from acting on a
  handful of units. The interval is never NaN.

3. The decision of a look (:func:`evaluate`)
--------------------------------------------
A :class:`Guardrail` names a metric, its harmful direction, a tolerance δ ≥ 0 (metric units),
``min_units`` (default 100 per arm) and an optional fast path. Per guardrail, in order:

1. **Fast path** → ``regressed``: over the window of calls since the last tested look, the
   canary's per-call mean is beyond ``max(fast_threshold, control + fast_margin)`` and an
   exact conditional binomial test (0/1 values; a Welch z-test otherwise) rejects at the
   window's share of the fast path's error budget (:mod:`~promptstage.rollout.analysis.fastpath`).
   It compares with the control over the same window, so an outage on both arms does not fire
   it, and a spike that starts mid-release is not diluted by the calls before it.
2. **Minimum sample** → ``insufficient`` while either side has fewer than ``min_units``
   distinct units for the metric, or the metric has no data at all.
3. **Interval beyond δ on the harmful side** → ``regressed``: for ``increase`` the lower bound
   is above +δ; for ``decrease`` the upper bound is below -δ.
4. Otherwise → ``ok``.

Overall: ``rollback`` if any guardrail regressed; else ``hold`` if the sample ratio is
mismatched (the look is then *unhealthy*) or any guardrail is ``insufficient`` (missing data
never allows an advance); else ``advance_allowed``. A release without guardrails is
``advance_allowed`` on every healthy look (a time-based ramp).

4. Sample-ratio mismatch (:func:`sequential_sample_ratio`)
-------------------------------------------------------------
Each unit counted once, where it first appeared, against the arms' expected shares (canary
``w``, control ``w`` and, in the first step, the rest ``1 - 2w``); the Dirichlet-multinomial
Bayes factor of Lindon & Malek (2022) is a test martingale, so flagging at 1/0.001 keeps the
false-alarm rate at 0.001 however many looks are taken. :func:`sample_ratio` (χ², one look,
canary vs control) is kept for comparison. A mismatch pauses the release; nothing is promoted
while it lasts. The error budget (:mod:`~promptstage.rollout.analysis.budget`) and the variance
reduction (:mod:`~promptstage.rollout.analysis.cuped`) are explained in their modules.

5. The ramp (:func:`next_step`, :func:`transition`)
---------------------------------------------------
After each look: rollback if the look says so (at any time); pause if unhealthy; hold while the
step is younger than its minimum duration or the look says hold; else advance to the next step,
or complete (promote) after the last step or when the next step is 100 % (no control arm is left
above 50 %, so steps strictly between 50 % and 100 % are rejected by :func:`validate_steps`).
Releases that must not promote themselves (``ab``) pass ``auto_promote=False``. A hold for lack
of data does not last for ever: at the step's bake deadline (4 x its minimum duration, at least
10 min) :func:`~promptstage.rollout.analysis.ramp.at_bake_deadline` turns it into a rollback, or
a pause flagged ``insufficient_data``; decisions on releases with data are unchanged.

6. Measured behaviour
---------------------
``tests/rollout/analysis/test_simulation.py`` runs seeded simulations of whole releases through
:func:`evaluate` (one rated call per unit, 2 000 rated units per look over all traffic, new units
on both sides at every look, per-step sums as the store returns them) and prints these figures
(``pytest -s``); ranges are over 8 further seeds:

* No real difference, 100 looks, ramp 5 → 25 → 50 % with the base rate drifting 8 → 12 % plus a
  daily swing: false rollbacks 1.4 % of 1 000 releases with one guardrail at alpha 0.05; 1.1 %
  (1.1-1.2 %) with three guardrails (thumbs-down, error rate with fast path, CSAT; alpha/3
  each), and the fast path never fired; 2.5 % against the control arm only. The same data with
  the steps pooled: 100 %.
* No real difference, ramp with drift, 2 000 users each rating ~100 times across the steps with
  their own propensity (ICC 0.2): 1.5 % false rollbacks of 200 releases (3.0 % with the
  covariance between steps left out).
* Thumbs-down 10 → 13 %, 5 % canary: caught in 100 %; median 1 000 rated canary units
  (900-1 100 over other seeds); 1 600 against the control arm only (targeting rules); 1 300
  among three guardrails.
* Thumbs-down 10 → 15 %: median 800 canary units even against the control arm only. CSAT
  4.0 → 3.7 (variance ~1.2): median 140 canary units at 20 rated canary units per look. Error
  rate 2 → 35 %: every release rolled back by the fast path at the first look (100 calls).
* Sample-ratio check on healthy releases over 100 looks: 1.4 % flagged; a control arm losing
  5 % of its units: always flagged, median look 35.

References:
    * I. Waudby-Smith, D. Arbour, R. Sinha, E. H. Kennedy, A. Ramdas (2021). Time-uniform
      central limit theory and asymptotic confidence sequences. arXiv:2103.06476.
    * GrowthBook documentation on sequential testing and safe rollouts; GrowthBook
      ``gbstats`` source, ``frequentist/tests.py`` (``sequential_rho``, one-sided half-width).
    * ``shared/reference/rollouts.md`` §7(b) (design table) and §8 (simulation evidence).
"""

from __future__ import annotations

from promptstage.rollout.analysis.guardrails import (
    DEFAULT_ALPHA,
    CallStats,
    Guardrail,
    GuardrailDecision,
    GuardrailResult,
    Harmful,
    Look,
    LookDecision,
    MetricStats,
    evaluate,
)
from promptstage.rollout.analysis.ramp import (
    DEFAULT_RAMP_BPS,
    TERMINAL_STATES,
    ReleaseAction,
    ReleaseState,
    StepAction,
    StepDecision,
    allowed_actions,
    next_step,
    transition,
    validate_steps,
)
from promptstage.rollout.analysis.sequential import (
    DEFAULT_N_STAR,
    ArmStats,
    Interval,
    SharedUnits,
    Side,
    Stratum,
    confidence_sequence,
    mixture_rho,
    stratified_sequence,
)
from promptstage.rollout.analysis.srm import (
    SRM_MIN_UNITS,
    SRM_THRESHOLD,
    SampleRatio,
    chi2_sf_1dof,
    sample_ratio,
    sequential_sample_ratio,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_N_STAR",
    "DEFAULT_RAMP_BPS",
    "SRM_MIN_UNITS",
    "SRM_THRESHOLD",
    "TERMINAL_STATES",
    "ArmStats",
    "CallStats",
    "Guardrail",
    "GuardrailDecision",
    "GuardrailResult",
    "Harmful",
    "Interval",
    "Look",
    "LookDecision",
    "MetricStats",
    "ReleaseAction",
    "ReleaseState",
    "SampleRatio",
    "SharedUnits",
    "Side",
    "StepAction",
    "StepDecision",
    "Stratum",
    "allowed_actions",
    "chi2_sf_1dof",
    "confidence_sequence",
    "evaluate",
    "mixture_rho",
    "next_step",
    "sample_ratio",
    "sequential_sample_ratio",
    "stratified_sequence",
    "transition",
    "validate_steps",
]
