"""panicpath.policies: the registry and the policy in force for a kernel release."""

from __future__ import annotations

import pytest


def test_policy_for_release_picks_the_policy_in_force() -> None:
    """The lab predicts a guest with the policy in force for its kernel (issue 15): the newest
    numbered kernel policy not after the release; linux-mainline is no release's."""
    from panicpath.policies import policy_for_release

    assert policy_for_release((5, 10)).name == "linux-5.0"
    assert policy_for_release((5, 18)).name == "linux-5.18"
    assert policy_for_release((6, 1)).name == "linux-6.1"
    assert policy_for_release((6, 12)).name == "linux-6.6"
    assert policy_for_release((7, 2)).name == "linux-6.6"
    assert policy_for_release((7, 3)).name == "linux-7.3"
    assert policy_for_release((9, 9)).name == "linux-7.3"
    with pytest.raises(KeyError):
        policy_for_release((2, 4))


def test_an_nmi_panic_reaches_an_nbcon_console() -> None:
    """7.3's 8250 console is nbcon: an NMI panic's text is on the serial console (lab:
    7.3.4 printed it, 7.2.13 did not); before, printk in NMI context was deferred."""
    from panicpath.engine import simulate
    from panicpath.model.scenario import Scenario
    from panicpath.model.steps import PANIC_MSG

    def shown(policy: str) -> bool:
        r = simulate(Scenario(policy=policy, faults=("nmi-context",)))
        return any(PANIC_MSG in line for line in r.console)

    assert shown("linux-7.3") and shown("linux-mainline")
    assert not shown("linux-6.3") and not shown("linux-6.1")
