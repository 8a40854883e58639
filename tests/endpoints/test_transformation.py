"""The sandbox itself: limits, a run that cannot be interrupted, a process that dies, and the
checks on what a script returns."""

from __future__ import annotations

import pytest

from endpoints import transformation
from endpoints.transformation import Limits, Sandbox, TransformationError, shaped

WEBHOOK = {"method": "POST", "url": "https://example.com/h", "payload": {}, "eventType": "a.b"}


@pytest.fixture
def sandbox():  # type: ignore[no-untyped-def]
    box = Sandbox(1)
    yield box
    box.close()


def test_a_run_quickjs_cannot_interrupt_is_ended_by_killing_its_process(sandbox):
    backtracking = "function handler(w) { /(a+)+b/.test('a'.repeat(40)); return w; }"

    with pytest.raises(TransformationError) as caught:
        sandbox.run(key="e:1", code=backtracking, webhook=WEBHOOK, limits=Limits(time_ms=50))
    answer = sandbox.run(
        key="e:2", code="function handler(w) { return w; }", webhook=WEBHOOK, limits=Limits()
    )

    assert str(caught.value) == (
        "transformation timed out: still running 50 ms + 1 s after it started, so its sandbox "
        "was stopped"
    )
    assert answer == WEBHOOK  # a new sandbox process took its place


def test_a_sandbox_process_that_dies_fails_that_run_only(sandbox):
    sandbox.run(
        key="e:1", code="function handler(w) { return w; }", webhook=WEBHOOK, limits=Limits()
    )
    process = sandbox._all[0]
    process._proc.kill()  # as the kernel's OOM killer would
    process._proc.wait()

    answer = sandbox.run(
        key="e:1", code="function handler(w) { return w; }", webhook=WEBHOOK, limits=Limits()
    )

    assert answer == WEBHOOK


def test_state_a_run_leaves_behind_does_not_outlive_a_limit(sandbox):
    code = """
    var seen = 0;
    function handler(w) {
      seen += 1;
      if (w.payload.spin) { while (true) {} }
      w.payload = {seen: seen};
      return w;
    }
    """
    first = sandbox.run(key="e:1", code=code, webhook=WEBHOOK, limits=Limits())
    with pytest.raises(TransformationError):
        sandbox.run(
            key="e:1", code=code, webhook={**WEBHOOK, "payload": {"spin": 1}}, limits=Limits()
        )
    after = sandbox.run(key="e:1", code=code, webhook=WEBHOOK, limits=Limits())

    assert first["payload"] == {"seen": 1}
    assert after["payload"] == {"seen": 1}  # compiled afresh after the run hit its limit


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            {**WEBHOOK, "url": "ftp://example.com/"},
            "transformation returned url 'ftp://example.com/'",
        ),
        ({**WEBHOOK, "url": "https://user:pw@example.com/"}, "transformation returned url"),
        ({**WEBHOOK, "method": "GET"}, 'transformation returned method "GET"'),
        ({**WEBHOOK, "cancel": "yes"}, "transformation set cancel to something other than"),
        ({"method": "POST", "url": "https://example.com/"}, "transformation returned no payload"),
        ({**WEBHOOK, "payload": "x" * 2000}, "transformation returned a payload over the 1000"),
    ],
)
def test_what_a_script_returns_is_checked(answer, error):
    with pytest.raises(TransformationError) as caught:
        shaped(answer, require_https=False, max_body_bytes=1000)

    assert str(caught.value).startswith(error)


def test_a_method_is_taken_in_any_case_and_sent_upper_case():
    result = shaped({**WEBHOOK, "method": "patch"}, require_https=False, max_body_bytes=1000)

    assert result.method == "PATCH"
    assert result.body == "{}"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", "the code is empty"),
        ("x" * (65 * 1024), "the code is over 64 KiB"),
        ("var handler = 1;", "the code defines no function handler(webhook)"),
        ("throw new Error('at load')", "the code's top level threw Error: at load"),
        ("while (true) {}", "the code's top level ran past the time limit"),
    ],
)
def test_code_is_checked_on_save(code, error):
    with pytest.raises(TransformationError) as caught:
        transformation.code_check(code)

    assert str(caught.value) == error
