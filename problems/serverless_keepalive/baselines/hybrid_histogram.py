"""The hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (USENIX ATC'20), per
function, with the parameters of the paper and its public re-implementations (dslab-faas, OpenDC):

- A range-limited histogram of the function's idle times: 1-minute bins over 4 hours; longer
  idle times are counted as out of bounds (OOB).
- Representative histogram (coefficient of variation of the bin counts >= 2): prewarm = the head
  (5th percentile, the bin's lower edge) minus a 10% margin, keepalive = the tail (99th
  percentile, the bin's upper edge) plus a 10% margin, measured from the (pre-)load.
- Not representative (CV < 2, including no idle time seen yet): the fixed fallback, no prewarm
  and a keep-alive of the whole histogram range (4 h).
- Mostly out of bounds (OOB share >= 50%): the paper forecasts the next idle time with ARIMA;
  simplified here to the mean of the last 10 idle times, used with the paper's 15% margin:
  prewarm = 85% of the forecast, keepalive = 30% of it (15% on each side).

The histogram is kept in module state per function (the state's ``idle_times`` holds only the
last 100 idle times) and reset on the function's first call (``idle_count == 0``): the same
workloads may be replayed in one process (constant tuning scores many settings in one session).
"""

RANGE, BIN = 240, 1.0                 # minutes
HEAD, TAIL, MARGIN = 0.05, 0.99, 0.10
CV_THRESHOLD, OOB_THRESHOLD = 2.0, 0.5
FORECAST_WINDOW, FORECAST_MARGIN = 10, 0.15

HIST: dict[str, list] = {}  # per function: [bin counts, in range, sum of squared counts, OOB, seen]


def percentile_bin(bins: list[int], total: int, p: float) -> int:
    running = 0
    for i, count in enumerate(bins):
        running += count
        if running >= p * total:
            return i
    return len(bins) - 1


def coefficient_of_variation(total: int, squares: int, n: int) -> float:
    """CV of the n bin counts from their sum and sum of squares (sample standard deviation)."""
    if total == 0:
        return 0.0
    mean = total / n
    return max(0.0, (squares - n * mean * mean) / (n - 1)) ** 0.5 / mean


def keepalive(state: dict) -> list:
    if state["idle_count"] == 0:  # the function's first call: start afresh
        HIST[state["function"]] = [[0] * RANGE, 0, 0, 0, 0]
    h = HIST[state["function"]]
    bins, idle = h[0], state["idle_times"]
    for it in idle[len(idle) - (state["idle_count"] - h[4]):]:  # the idle times not seen yet
        index = int(it // BIN)
        if index < RANGE:
            h[2] += 2 * bins[index] + 1  # (c + 1)^2 - c^2
            bins[index] += 1
            h[1] += 1
        else:
            h[3] += 1
    h[4] = state["idle_count"]
    inside, oob = h[1], h[3]
    if inside + oob and oob / (inside + oob) >= OOB_THRESHOLD:
        recent = idle[-FORECAST_WINDOW:]
        forecast = sum(recent) / len(recent)
        return [forecast * (1 - FORECAST_MARGIN), forecast * 2 * FORECAST_MARGIN]
    if coefficient_of_variation(inside, h[2], RANGE) < CV_THRESHOLD:
        return [0.0, RANGE * BIN]
    head = percentile_bin(bins, inside, HEAD) * BIN
    tail = (percentile_bin(bins, inside, TAIL) + 1) * BIN
    return [head * (1 - MARGIN), tail * (1 + MARGIN) - head * (1 - MARGIN)]
