"""What a session's model calls cost, from the price table of the config (`[prices]`, per million
tokens). Shared by the listing and its cache; imports nothing, so the cached `log` stays light."""
from __future__ import annotations

TYPE_CHECKING = False  # no typing at run time: the read path starts without it
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def usage_cost(usage: Sequence[tuple[str, int, int]], prices: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Cost of (model, input tokens, output tokens) from the config's price table (per million
    tokens); None when there is no usage or a model has no price."""
    if not prices or not usage:
        return None
    total = 0.0
    for model, input_tokens, output_tokens in usage:
        price = prices.get(model)
        if price is None:
            return None
        total += (input_tokens * float(price.get("input", 0))
                  + output_tokens * float(price.get("output", 0))) / 1_000_000
    return total
