"""panicpath.policies: the registry and the policy in force for a kernel release."""

from __future__ import annotations

import pytest


def test_policy_for_release_picks_the_policy_in_force() -> None:
    """The lab predicts a guest with the policy in force for its kernel (issue 15): the newest
    kernel policy not after the release, linux-mainline from v6.17 (vpanic, 3f045de7f557)."""
    from panicpath.policies import MAINLINE_SINCE, policy_for_release

    assert policy_for_release((5, 10)).name == "linux-5.0"
    assert policy_for_release((5, 18)).name == "linux-5.18"
    assert policy_for_release((6, 1)).name == "linux-6.1"
    assert policy_for_release((6, 12)).name == "linux-6.3"
    assert policy_for_release((6, 16)).name == "linux-6.3"
    assert policy_for_release(MAINLINE_SINCE).name == "linux-mainline"
    assert policy_for_release((7, 3)).name == "linux-mainline"
    with pytest.raises(KeyError):
        policy_for_release((2, 4))
