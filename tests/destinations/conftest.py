import pytest


@pytest.fixture(autouse=True)
def _patient_attempts(settings):  # type: ignore[no-untyped-def]
    """A broker on a loaded machine may take more than the suite's 2 s to answer a first
    connection; a timeout here would be a flaky test, not a finding."""
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 15
    return settings
