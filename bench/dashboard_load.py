"""Dashboard page loads on a run with 10,000 programs (SQLite, and PostgreSQL when reachable).

Builds a synthetic but full-sized archive (every program with its train evaluation, the LLM call
that made it with a 4 KB prompt and 1.5 KB reply, its iteration row, elites on 3 islands, baseline
scores), then times each page two ways:

- script: Streamlit's AppTest runs the page script in-process (queries + figures), median of 3;
- cold: headless Chromium opens the page's URL on `evolve ui` in a fresh tab (loads Streamlit's
  and plotly's JavaScript again) until its text and every chart are drawn, median of 3;
- in-app: a click on the page's sidebar link from another page, until the same, median of 3.

Usage: .venv/bin/python bench/dashboard_load.py [--programs 10000] [--no-browser] [--no-pg]
Target (issue 6): every page under 2 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.archive.models import (  # noqa: E402
    BaselineScore,
    Elite,
    Evaluation,
    Iteration,
    LlmCall,
    Program,
    Run,
)
from evolve.archive.store import Archive  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# (page, url path, text shown once it is there, plotly charts it draws)
PAGES = [("runs", "", "running.", 0), ("overview", "overview", "Is it improving?", 2),
         ("lineage", "lineage", "(the best program)", 1), ("programs", "programs", "programs; ", 0),
         ("program", "program", "Program #", 0),
         ("elites", "elites", "island 0:", 1), ("compare", "compare", "atc_api", 1)]


def build(url: str, n: int, name: str = "big") -> int:
    """A finished-looking run of ``n`` programs in the archive at ``url``; returns the best id."""
    rng = random.Random(7)
    archive = Archive(url)
    run_id = archive.create_run(name, "smtt", {"note": "synthetic, bench/dashboard_load.py"})
    archive.close()
    engine = create_engine(url)
    t0 = datetime.now(UTC) - timedelta(hours=5)
    prompt = [{"role": "system", "content": "You improve a dispatching rule. " * 40},
              {"role": "user", "content": "def priority(p_j, w_j, d_j, t):\n    return d_j\n" * 40}]
    reply = ("Try slack per weight.\n```python\ndef priority(p_j, w_j, d_j, t):\n" + "    x = 1\n" * 150
             + "```")
    code = '"""seed"""\n# EVOLVE-BLOCK-START\ndef priority(p_j, w_j, d_j, t):\n' + "    return d_j\n" * 60
    with engine.begin() as conn:
        first = conn.execute(text("select coalesce(max(id), 0) from programs")).scalar() + 1
        progs, evals, calls, iters, scores = [], [], [], [], {}
        for k in range(n):
            pid = first + k
            parent = None if k == 0 else first + int(k * rng.random() ** 0.5)
            gen = 0 if parent is None else progs[parent - first]["generation"] + 1
            ok = k == 0 or rng.random() > 0.3
            score = -1.5 + 1.4 * (k / n) ** 0.3 + rng.gauss(0, 0.05) if ok else None
            scores[pid] = score
            cell = f"{rng.randrange(8)},{rng.randrange(6)}" if ok else None
            at = t0 + timedelta(seconds=k)
            progs.append({"id": pid, "run_id": run_id, "sha256": uuid.uuid4().hex * 2,
                          "code": code + f"# {k}\n", "parent_id": parent, "generation": gen,
                          "island": k % 3, "iteration": k, "status": "ok" if ok else "failed",
                          "combined_score": score, "cell": cell, "children_count": 0,
                          "features": {"code_length": 900.0, "cpu_seconds": 0.4}, "created_at": at})
            evals.append({"program_id": pid, "set_name": "train", "evaluator_version": "smtt-3",
                          "seed": 0, "ok": ok, "created_at": at,
                          "metrics": {"gap": -score if ok else 0.0, "cpu_seconds": 0.4,
                                      **{f"aggregate_gap_tf{i}": 0.1 * i for i in range(10)}},
                          "combined_score": score, "feedback": "per class gaps ... " * 30,
                          "error": None if ok else "evaluation on wt40-1: ZeroDivisionError: ...",
                          "error_kind": None if ok else rng.choice(["exception", "timeout", "invalid"]),
                          "seconds": 0.5})
            if k:
                calls.append({"run_id": run_id, "proposal": f"p{k}", "attempt": 1,
                              "model": rng.choice(["openai/gpt-4.1-mini", "openai/local"]),
                              "messages": prompt, "reply": reply, "prompt_tokens": 1200,
                              "completion_tokens": 300, "cost": 0.0004, "cost_known": True,
                              "latency": 2.0, "error": None, "created_at": at})
                iters.append({"run_id": run_id, "number": k, "proposal": f"p{k}", "island": k % 3,
                              "parent_id": parent, "inspiration_ids": [], "model": calls[-1]["model"],
                              "edit_kind": "diff", "outcome": "child", "reason": None,
                              "child_id": pid, "created_at": at})
        for table, rows in ((Program, progs), (Evaluation, evals), (LlmCall, calls), (Iteration, iters)):
            for i in range(0, len(rows), 2000):
                conn.execute(insert(table), rows[i:i + 2000])
        elites: dict[tuple[int, str], tuple[float, int]] = {}
        for p in progs:
            if p["cell"] is not None:
                key = (p["island"], p["cell"])
                if key not in elites or p["combined_score"] > elites[key][0]:
                    elites[key] = (p["combined_score"], p["id"])
        conn.execute(insert(Elite), [{"run_id": run_id, "island": i, "cell": c, "program_id": pid,
                                      "score": s} for (i, c), (s, pid) in elites.items()])
        for name_, gap in (("edd", 1.49), ("wmdd", 0.39), ("atc", 0.043), ("atc_api", 0.029)):
            for set_name in ("train", "test"):
                conn.execute(insert(BaselineScore), [{
                    "run_id": run_id, "name": name_, "set_name": set_name, "evaluator_version": "smtt-3",
                    "ok": True, "metrics": {"gap": gap}, "combined_score": -gap, "error": None,
                    "seconds": 1.0, "created_at": t0}])
        conn.execute(text("update runs set status = 'finished' where id = :r"), {"r": run_id})
        conn.execute(Run.__table__.update().where(Run.id == run_id).values(updated_at=datetime.now(UTC)))
    engine.dispose()
    return max((s, p) for p, s in scores.items() if s is not None)[1]


def script_times(db_url: str, best: int, repeats: int = 3) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["EVOLVE_UI_DB"] = db_url
    out = {}
    for page, path, _, _ in PAGES:
        times = []
        for _ in range(repeats):
            at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=120)
            at.query_params["run"] = "big"
            at.query_params["program"] = str(best)
            at.run()
            if path:
                at.switch_page(f"views/{path}.py")
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
            assert not at.exception, at.exception
        out[page] = statistics.median(times)
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=120)
    at.query_params["run"] = "big"
    at.run()
    at.switch_page("views/lineage.py").run()
    at.toggle[1].set_value(True)  # the page's "whole run" (toggle 0 is the sidebar's live refresh)
    started = time.perf_counter()
    at.run()
    out["lineage, whole run"] = time.perf_counter() - started
    return out


def wait_healthy(base: str, seconds: float = 30) -> None:
    """Until the Streamlit server at ``base`` answers its health check."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no Streamlit server answered at {base} within {seconds:.0f} s")


def browser_times(db_url: str, best: int, repeats: int = 3) -> dict[str, dict[str, float]]:
    """{"cold": {page: s}, "in-app": {page: s}}: a fresh load of the page's URL, and a click on its
    link in the sidebar from another page; both until its text and every chart are drawn."""
    from selenium.webdriver.common.by import By

    from tests import browser

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "evolve.cli", "ui", "--db", db_url, "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        wait_healthy(base)
        driver = browser.chrome()
        cold: dict[str, float] = {}
        in_app: dict[str, float] = {}
        for page, path, marker, plots in PAGES:
            times = []
            for _ in range(repeats):
                driver.get("about:blank")
                time.sleep(1.0)  # the previous page's rendering is over
                started = time.perf_counter()
                driver.get(f"{base}/{path}?run=big&program={best}")
                browser.wait_for(driver, marker, timeout=120, plots=plots)
                times.append(time.perf_counter() - started)
            cold[page] = statistics.median(times)
            times = []
            for _ in range(repeats):
                other = "compare" if path != "compare" else "overview"
                driver.get(f"{base}/{other}?run=big")
                browser.wait_for(driver, other.capitalize() if other == "compare" else "Is it improving?",
                                 timeout=120, plots=1)
                time.sleep(1.0)
                link = driver.find_element(By.CSS_SELECTOR,
                                           f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
                started = time.perf_counter()
                link.click()
                browser.wait_for(driver, marker, timeout=120, plots=plots)
                times.append(time.perf_counter() - started)
            in_app[page] = statistics.median(times)
        return {"cold": cold, "in-app": in_app}
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=30)


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("floor")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
st.write("floor drawn")
"""


def floor_time(repeats: int = 3) -> float:
    """Cold load of a bare Streamlit app with one 3-point plotly chart: what any page with a chart
    costs in this browser on this machine, whatever the archive holds."""
    from tests import browser

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        app = Path(tmp) / "floor.py"
        app.write_text(FLOOR_APP)
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port",
                                 str(port), "--server.headless", "true", "--browser.gatherUsageStats",
                                 "false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver = None
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            driver = browser.chrome()
            times = []
            for _ in range(repeats):
                driver.get("about:blank")
                time.sleep(1.0)
                started = time.perf_counter()
                driver.get(f"http://127.0.0.1:{port}/")
                browser.wait_for(driver, "floor drawn", timeout=120, plots=1)
                times.append(time.perf_counter() - started)
            return statistics.median(times)
        finally:
            if driver is not None:
                driver.quit()
            proc.terminate()
            proc.wait(timeout=30)


def pg_database() -> str | None:
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"evolve_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); SQLite only")
        return None


def drop(url: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=10_000)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {"sqlite": f"sqlite:///{tmp}/archive.db"}
        pg = None if args.no_pg else pg_database()
        if pg:
            dbs["postgresql"] = pg
        results: dict[str, dict[str, float]] = {}
        try:
            for kind, url in dbs.items():
                started = time.perf_counter()
                best = build(url, args.programs)
                print(f"{kind}: built a run of {args.programs} programs in "
                      f"{time.perf_counter() - started:.1f} s")
                results[f"{kind} script"] = script_times(url, best)
                if not args.no_browser:
                    for how, times in browser_times(url, best).items():
                        results[f"{kind} {how}"] = times
        finally:
            if pg:
                drop(pg)
    columns = list(results)
    pages = list(dict.fromkeys(p for r in results.values() for p in r))
    print(f"\npage load seconds, {args.programs} programs in the run (median of 3; target < 2 s)")
    print(f"{'page':<20}" + "".join(f"{c:>20}" for c in columns))
    for page in pages:
        cells = "".join(f"{results[c][page]:>20.2f}" if page in results[c] else f"{'-':>20}" for c in columns)
        print(f"{page:<20}{cells}")
    for how in ("script", "in-app", "cold"):
        worst = [v for c, r in results.items() if c.endswith(how) for v in r.values()]
        if worst:
            print(f"slowest {how}: {max(worst):.2f} s -> target {'met' if max(worst) < 2 else 'NOT met'}")
    if not args.no_browser:
        print(f"floor (cold): a bare Streamlit app with one 3-point plotly chart loads in "
              f"{floor_time():.2f} s here")


if __name__ == "__main__":
    main()
