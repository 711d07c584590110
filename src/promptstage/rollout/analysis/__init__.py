"""The release controller's analysis: what a look at a running release decides, and the ramp.

Pure like the rest of :mod:`promptstage.rollout` (``math`` only, no I/O, no clock), but off the
hot path: the SDK and :mod:`promptstage.rollout.resolve` never import it. It holds the per-arm
summaries and the confidence sequence (:mod:`.sequential`), a look's guardrail decision
(:mod:`.guardrails`), the sample-ratio check (:mod:`.srm`), the release state machine and ramp
policy (:mod:`.ramp`), and :mod:`.statistics`, which explains the method and re-exports them.
"""
