"""Hypothesis settings shared by the fuzz tests of the image and model loaders."""

from hypothesis import HealthCheck, settings

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
