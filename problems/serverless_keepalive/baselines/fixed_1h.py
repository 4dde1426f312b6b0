"""Fixed 1-hour keep-alive (the paper's longer fixed policies: fewer cold starts, more memory)."""


def keepalive(state: dict) -> float:
    return 60.0
