"""All on-demand: launch on-demand at once and keep it to the end (the cost ceiling, ratio 1)."""


def decide(state: dict) -> str:
    return "ON_DEMAND"
