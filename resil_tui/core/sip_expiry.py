"""The SIP registration expiry a site expects while HA is on (core/ha_webui.py checks it).

Apart from the web UI's checks so that the Status pane's node detail can name a site's
triple before anything is polled: core/ha_webui.py loads with the first poll, not with
the console's first screen (tests/ui/test_lazy_panes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from resil_tui.inventory_model import Site


@dataclass(frozen=True)
class SipExpiryTriple:
    """Seconds: minimum, maximum and default registration expiry."""

    minimum: int
    maximum: int
    default: int

    def __post_init__(self) -> None:
        for value in (self.minimum, self.maximum, self.default):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SIP expiry values are positive seconds, not {value!r}")
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(
                f"SIP expiry: min {self.minimum} <= default {self.default} <= max "
                f"{self.maximum} is required"
            )

    def as_dict(self) -> dict[str, int]:
        return {
            "minexpiry": self.minimum,
            "maxexpiry": self.maximum,
            "defaultexpiry": self.default,
        }

    def text(self) -> str:
        return (
            f"min {_duration(self.minimum)}, max {_duration(self.maximum)}, "
            f"default {_duration(self.default)}"
        )


# The seed: HA on 1 / 5 / 2 minutes.
SEED_HA_ON = SipExpiryTriple(60, 300, 120)


def site_sip_expiry(site: Site) -> SipExpiryTriple:
    """The SIP expiry a site expects while HA is on (`ha_sip_expiry` in the inventory)."""
    low, high, default = site.ha_sip_expiry
    return SipExpiryTriple(low, high, default)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
