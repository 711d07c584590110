"""The evaluation core: suites, assertions and detectors, the gate policy and static checks.

Pure like ``rollout``: functions of data, no network, no database, no clock. The provider
clients (``evals.providers``) are the one part that talks to a model; the runner, the storage
of runs and the API sit above this package and call it.
"""
