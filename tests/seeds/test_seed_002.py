"""Claims of seed 002 (../shared/seeds/002_ef6287f3926c4285.txt, Scott Branden on bcm_vk,
May 2022)."""

from __future__ import annotations

import pytest

from tests.seeds.helpers import POST, run


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_bcm_vk_must_stop_dma_before_kdump(arch: str) -> None:
    """Seed 002: 'We register to the panic notifier so that we can kill the VK card ASAP to
    stop DMAing ... If it is not notified then memory may not be frozen when kdump is
    occurring'; 'it may be possible to run in arm64 servers'.
    drivers/misc/bcm-vk/bcm_vk_dev.c bcm_vk_on_panic (6.1.192) only runs when the notifier
    chain runs before __crash_kexec."""
    first = run(arch=arch, drivers=("bcm-vk",), faults=("dma-active",))
    assert "bcm-vk" not in first.ran_callbacks
    assert not first.properties["vmcore-intact"]
    post = run(arch=arch, drivers=("bcm-vk",), faults=("dma-active",), params=POST)
    assert "bcm-vk" in post.ran_callbacks
    assert post.properties["vmcore-intact"]


def test_without_dma_the_card_does_not_matter() -> None:
    """Seed 002: 'if DMA is disabled before kdump already then this wouldn't be an issue'."""
    assert run(drivers=("bcm-vk",)).properties["vmcore-intact"]
