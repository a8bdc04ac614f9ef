"""What a server offers of the platform contract.

The sandbox offers every part; a real service offers only some (an Integrate.io account:
keys and pipelines; a Frontic ingest host: the intents; an Inspire connector: /api/ingest).
The console learns it on connect (`discover`, from /openapi.json where the server publishes
one, else by probing the documented routes) and each tab says plainly what is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass

# The parts of the contract, as tabs and actions need them.
PARTS = ("keys", "pipelines", "feeds", "records", "intents", "ingest", "logs")


@dataclass(frozen=True)
class Capabilities:
    """The parts of the contract one server offers, and how that was learnt."""

    parts: frozenset[str]
    source: str = "assumed"  # "openapi", "probe" or "assumed" (nothing learnt yet)

    def offers(self, part: str) -> bool:
        """Whether the server offers `part` (one of PARTS)."""
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}")
        return part in self.parts


EVERYTHING = Capabilities(frozenset(PARTS))
