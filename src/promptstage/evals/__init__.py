"""Evaluation: suites, assertions, detectors and the gate policy (pure), and provider clients.

Everything here is pure except ``evals.providers``, the clients that call model APIs.
"""
