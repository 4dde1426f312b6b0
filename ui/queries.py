"""What the dashboard reads from an archive, as pandas frames and plain records.

Every function is a handful of indexed, column-limited queries (program code, prompts and replies
are read for one program at a time), so a page stays fast with 10,000 programs in a run. Nothing
here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from evaluators.problem import SecondObjective
from evolve.archive import statements
from evolve.archive.fronts import run_points
from evolve.archive.models import (
    BaselineScore,
    Elite,
    EvalTask,
    Evaluation,
    Iteration,
    LlmCall,
    Program,
    Run,
    SearchEvent,
)
from evolve.heartbeat import shown_status
from evolve.search.pareto import Point, pareto_front


def _frame(engine: Engine, stmt, columns: list[str]) -> pd.DataFrame:
    with Session(engine) as s:
        rows = s.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def runs(engine: Engine) -> pd.DataFrame:
    """One row per run: problem, status, iterations, programs, best score, cost, start and end."""
    its = (select(Iteration.run_id, func.count().label("n"), func.max(Iteration.created_at).label("last"))
           .group_by(Iteration.run_id)).subquery()
    progs = (select(Program.run_id, func.count().label("n"), func.max(Program.combined_score).label("best"))
             .group_by(Program.run_id)).subquery()
    cost = (select(LlmCall.run_id, func.sum(LlmCall.cost).label("cost")).group_by(LlmCall.run_id)).subquery()
    stmt = (select(Run.id, Run.name, Run.problem, Run.status, func.coalesce(its.c.n, 0),
                   func.coalesce(progs.c.n, 0), progs.c.best, func.coalesce(cost.c.cost, 0.0),
                   Run.created_at, its.c.last, Run.updated_at, Run.stop_reason)
            .outerjoin(its, its.c.run_id == Run.id).outerjoin(progs, progs.c.run_id == Run.id)
            .outerjoin(cost, cost.c.run_id == Run.id).order_by(Run.id.desc()))
    frame = _frame(engine, stmt, ["id", "run", "problem", "status", "iterations", "programs",
                                  "best score", "cost $", "started", "last iteration", "heartbeat",
                                  "stop reason"])
    return frame.assign(status=[shown_status(st, beat) for st, beat
                                in zip(frame["status"], frame["heartbeat"], strict=True)])


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    problem: str
    status: str  # running|stopped|finished, or stalled: running without a heartbeat (its controller died)
    stop_reason: str | None
    config: dict
    iterations: int
    last_iteration: datetime | None = None


def run_info(engine: Engine, name: str) -> RunInfo | None:
    with Session(engine) as s:
        run = s.scalar(select(Run).where(Run.name == name))
        if run is None:
            return None
        n, last = s.execute(select(func.count(), func.max(Iteration.created_at))
                            .where(Iteration.run_id == run.id)).one()
        return RunInfo(run.id, run.name, run.problem, shown_status(run.status, run.updated_at),
                       run.stop_reason, run.config or {}, n or 0, last)


def programs(engine: Engine, run_id: int) -> pd.DataFrame:
    """Every program of the run without its code: the lineage tree and the score curves."""
    stmt = (select(Program.id, Program.parent_id, Program.generation, Program.island, Program.iteration,
                   Program.status, Program.combined_score, Program.cell, Program.parent2_id,
                   Program.created_at, Program.edit_kind, Program.label)
            .where(Program.run_id == run_id).order_by(Program.id))
    return _frame(engine, stmt, ["id", "parent", "generation", "island", "iteration", "status",
                                 "score", "cell", "parent2", "created", "kind", "label"])


def program_table(engine: Engine, run_id: int) -> pd.DataFrame:
    """Every program with what made it: status, score on train, island, generation, parent,
    edit kind and the model of its iteration (starting programs and tunings have none)."""
    stmt = (select(Program.id, Program.status, Program.combined_score, Program.island,
                   Program.generation, Program.parent_id, Program.edit_kind, Program.label,
                   Iteration.model, Program.created_at)
            .outerjoin(Iteration, (Iteration.child_id == Program.id) & (Iteration.outcome == "child"))
            .where(Program.run_id == run_id).order_by(Program.id))
    return _frame(engine, stmt, ["id", "status", "score", "island", "generation", "parent", "kind",
                                 "baseline", "model", "created"])


def programs_with_code(engine: Engine, run_id: int, needle: str, limit: int = 5000) -> list[int]:
    """Ids of the run's programs whose code contains ``needle`` (at most ``limit``; compared as the
    database's LIKE does: SQLite ignores the case of ASCII letters, PostgreSQL does not)."""
    like = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (select(Program.id).where(Program.run_id == run_id,
                                     Program.code.like(f"%{like}%", escape="\\"))
            .order_by(Program.id).limit(limit))
    with Session(engine) as s:
        return list(s.scalars(stmt).all())


def with_calls(frame: pd.DataFrame, call_times: pd.Series) -> pd.DataFrame:
    """``frame`` with a ``calls`` column: the LLM calls recorded before each program was stored."""
    times = pd.to_datetime(call_times, utc=True).sort_values().to_numpy()
    made = pd.to_datetime(frame["created"], utc=True).to_numpy()
    return frame.assign(calls=times.searchsorted(made, side="right") if len(frame) else [])


def run_best(frame: pd.DataFrame) -> pd.DataFrame:
    """The run-wide best train score as it rose: one row per program that raised it (iteration,
    LLM calls before it, score, program), and a last row at the run's latest iteration and call."""
    scored = frame.dropna(subset=["score"]).sort_values("id")
    rows, best = [], None
    for pid, it, calls, score in zip(scored["id"], scored["iteration"], scored["calls"], scored["score"]):
        if best is None or score > best:
            best = score
            rows.append((int(it or 0), int(calls), float(score), int(pid)))
    if rows:
        last_it = int(frame["iteration"].fillna(0).max())
        rows.append((max(last_it, rows[-1][0]), max(int(frame["calls"].max()), rows[-1][1]),
                     rows[-1][2], None))
    return pd.DataFrame(rows, columns=["iteration", "calls", "score", "program"])


def references(frame: pd.DataFrame, base: pd.DataFrame) -> list[tuple[str, float]]:
    """The scores people wrote, on train: the run's starting programs (seed, baselines) and every
    baseline the archive holds a train score for."""
    from evolve.report import program_name

    starts = frame[frame["kind"].isin(["seed", "baseline"]) & frame["score"].notna()]
    refs = [(program_name(kind, label, int(pid)), float(score)) for kind, label, pid, score
            in zip(starts["kind"], starts["label"], starts["id"], starts["score"])]
    named = {label for label in starts["label"] if label}
    for name, set_name, ok, score in zip(base["policy"], base["set"], base["ok"], base["score"]):
        if set_name == "train" and ok and score is not None and name not in named:
            refs.append((name, float(score)))
    return refs


@dataclass(frozen=True)
class TradeOff:
    """The run's programs on the objective against the second objective: every program with both
    (``id``, ``score``, ``second``; higher is better on both), its Pareto front, and the programs
    people wrote (name, score, second)."""

    points: pd.DataFrame
    front: pd.DataFrame
    refs: list[tuple[str, float, float]]


def trade_off(engine: Engine, run_id: int, second: SecondObjective, frame: pd.DataFrame,
              base: pd.DataFrame) -> TradeOff:
    from evolve.report import program_name

    points = run_points(engine, run_id, second)
    by_id = {p.program_id: p for p in points}
    starts = frame[frame["kind"].isin(["seed", "baseline"]) & frame["id"].isin(list(by_id))]
    refs = [(program_name(kind, label, int(pid)), by_id[int(pid)].score, by_id[int(pid)].second)
            for kind, label, pid in zip(starts["kind"], starts["label"], starts["id"])]
    named = {label for label in starts["label"] if label}
    for name, set_name, ok, metrics, score in zip(base["policy"], base["set"], base["ok"],
                                                  base["metrics"], base["score"]):
        value = second.score(metrics or {}) if ok and set_name == "train" else None
        if value is not None and score is not None and name not in named:
            refs.append((name, float(score), value))
    return TradeOff(points_frame(points), points_frame(pareto_front(points)), refs)


def points_frame(points: list[Point]) -> pd.DataFrame:
    return pd.DataFrame([(p.program_id, p.score, p.second) for p in points],
                        columns=["id", "score", "second"])


def score_progress(frame: pd.DataFrame) -> pd.DataFrame:
    """Per island and iteration: the best score so far and the median of recent scores.

    Iterations are grouped into at most 200 bins; the median is over the programs scored in a bin.
    """
    scored = frame.dropna(subset=["score", "iteration"]).sort_values("iteration")
    if scored.empty:
        return pd.DataFrame(columns=["island", "iteration", "best", "median"])
    width = max(1, int(scored["iteration"].max()) // 200 + 1)
    out = []
    for island, part in scored.groupby("island"):
        part = part.assign(bin=(part["iteration"] // width) * width)
        per_bin = part.groupby("bin")["score"].agg(["max", "median"])
        per_bin["best"] = per_bin["max"].cummax()
        out.append(pd.DataFrame({"island": island, "iteration": per_bin.index,
                                 "best": per_bin["best"].values, "median": per_bin["median"].values}))
    return pd.concat(out, ignore_index=True)


FAILURE_KIND = {"exception": "crash", "crash": "crash", "load": "crash", "timeout": "timeout",
                "invalid": "cheat / invalid output", "protocol": "cheat / invalid output",
                "oversize": "cheat / invalid output", "verifier": "infrastructure",
                "executor": "infrastructure", "worker_lost": "infrastructure",
                "same": "same behaviour as its parent", "slow": "timeout"}
OUTCOME_KIND = {"rejected": "parse / apply", "llm_error": "llm error", "duplicate": "duplicate code"}


def failures(engine: Engine, run_id: int) -> pd.DataFrame:
    """Counts of what went wrong, by kind (parse, llm, crash, timeout, cheat, infrastructure) and
    where: the LLM step, the quick gate check before the full set, or the full set."""
    with Session(engine) as s:
        outcomes = s.execute(select(Iteration.outcome, func.count()).where(
            Iteration.run_id == run_id, Iteration.outcome.in_(list(OUTCOME_KIND)))
            .group_by(Iteration.outcome)).all()
        stage = case((Evaluation.error.like("quick check%"), "gate (quick check)"), else_="full set")
        evals = s.execute(select(Evaluation.error_kind, stage, func.count())
                          .join(Program, Program.id == Evaluation.program_id)
                          .where(Program.run_id == run_id, Evaluation.ok.is_(False))
                          .group_by(Evaluation.error_kind, stage)).all()
    rows = [(OUTCOME_KIND[o], "reply", n) for o, n in outcomes]
    rows += [(FAILURE_KIND.get(kind or "", kind or "other"), where, n) for kind, where, n in evals]
    frame = pd.DataFrame(rows, columns=["failure", "where", "count"])
    return frame.groupby(["failure", "where"], as_index=False)["count"].sum()


def first_line(text: str | None, cap: int = 200) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= cap else line[:cap - 3] + "..."


def setbacks(engine: Engine, run_id: int, limit: int = 1000) -> pd.DataFrame:
    """The latest ``limit`` proposals that gave nothing new: rejected replies, duplicates, LLM
    errors, children that failed or behaved exactly like their parent; what happened, where, and
    the first line of why."""
    child = aliased(Program)
    latest = (select(Evaluation.program_id, func.max(Evaluation.id).label("eid"))
              .where(Evaluation.set_name == "train").group_by(Evaluation.program_id)).subquery()
    stmt = (select(Iteration.number, Iteration.model, Iteration.edit_kind, Iteration.outcome,
                   Iteration.reason, Iteration.child_id, child.status, Evaluation.error_kind,
                   Evaluation.error)
            .outerjoin(child, child.id == Iteration.child_id)
            .outerjoin(latest, latest.c.program_id == Iteration.child_id)
            .outerjoin(Evaluation, Evaluation.id == latest.c.eid)
            .where(Iteration.run_id == run_id,
                   (Iteration.outcome != "child") | child.status.in_(["failed", "same"]))
            .order_by(Iteration.number.desc()).limit(limit))
    with Session(engine) as s:
        rows = s.execute(stmt).all()
    out = []
    for number, model, edit, outcome, reason, child_id, status, kind, error in rows:
        if outcome != "child":
            what, where, why = OUTCOME_KIND.get(outcome, outcome), "reply", reason
        elif status == "same":
            what, where, why = "same behaviour as its parent", "quick check", error
        else:
            what = FAILURE_KIND.get(kind or "", kind or "failed")
            where = "quick check" if (error or "").startswith("quick check") else "full set"
            why = error
        out.append((number, what, where, first_line(why), child_id if outcome != "duplicate" else None,
                    child_id if outcome == "duplicate" else None, edit, model))
    return pd.DataFrame(out, columns=["iteration", "what", "where", "why", "program", "repeats",
                                      "edit", "model"])


def llm_usage(engine: Engine, run_id: int) -> pd.DataFrame:
    """Every LLM call of the run (no prompt text): time, model, tokens, dollars, latency, error."""
    stmt = (select(LlmCall.created_at, LlmCall.model, LlmCall.prompt_tokens, LlmCall.completion_tokens,
                   LlmCall.cost, LlmCall.latency, LlmCall.error.is_not(None))
            .where(LlmCall.run_id == run_id).order_by(LlmCall.id))
    return _frame(engine, stmt, ["time", "model", "prompt tokens", "completion tokens", "cost $",
                                 "latency s", "failed"])


@dataclass(frozen=True)
class Throughput:
    """How busy the run was: LLM calls and evaluations in flight over time (a step series each:
    ``time``, ``in flight``) and the seconds between consecutive iterations (``iteration``,
    ``seconds``)."""

    calls: pd.DataFrame
    evaluations: pd.DataFrame
    iterations: pd.DataFrame


def in_flight(ends: pd.Series, seconds: pd.Series) -> pd.DataFrame:
    """Intervals that ended at ``ends`` after ``seconds`` each, as the number running over time."""
    ends = pd.to_datetime(ends, utc=True)
    starts = ends - pd.to_timedelta(seconds.fillna(0).clip(lower=0), unit="s")
    steps = pd.concat([pd.DataFrame({"time": starts, "step": 1}),
                       pd.DataFrame({"time": ends, "step": -1})]).sort_values(["time", "step"])
    return pd.DataFrame({"time": steps["time"].to_numpy(),
                         "in flight": steps["step"].cumsum().to_numpy()})


def throughput(engine: Engine, run_id: int) -> Throughput:
    calls = _frame(engine, select(LlmCall.created_at, LlmCall.latency)
                   .where(LlmCall.run_id == run_id), ["end", "seconds"])
    evals = _frame(engine, select(Evaluation.created_at, Evaluation.seconds)
                   .join(Program, Program.id == Evaluation.program_id)
                   .where(Program.run_id == run_id), ["end", "seconds"])
    its = _frame(engine, select(Iteration.number, Iteration.created_at)
                 .where(Iteration.run_id == run_id).order_by(Iteration.number), ["iteration", "at"])
    gaps = pd.to_datetime(its["at"], utc=True).diff().dt.total_seconds()
    return Throughput(in_flight(calls["end"], calls["seconds"]),
                      in_flight(evals["end"], evals["seconds"]),
                      pd.DataFrame({"iteration": its["iteration"], "seconds": gaps}).dropna())


def search_events(engine: Engine, run_id: int) -> pd.DataFrame:
    """Island restarts and advice written into prompts, oldest first."""
    stmt = (select(SearchEvent.iteration, SearchEvent.kind, SearchEvent.island,
                   SearchEvent.first_iteration, SearchEvent.last_iteration, SearchEvent.program_id,
                   SearchEvent.text)
            .where(SearchEvent.run_id == run_id).order_by(SearchEvent.id))
    frame = _frame(engine, stmt, ["after iteration", "event", "island", "first", "last", "program",
                                  "what"])
    covers = [f"{int(a)}-{int(b)}" if not pd.isna(a) else "" for a, b in zip(frame["first"], frame["last"])]
    frame = frame.assign(what=[t.replace("\n", " · ") for t in frame["what"]],
                         island=[("" if pd.isna(i) else str(int(i))) for i in frame["island"]],
                         program=[("" if pd.isna(i) else f"#{int(i)}") for i in frame["program"]])
    return frame.drop(columns=["first", "last"]).assign(**{"covers iterations": covers})[
        ["after iteration", "event", "island", "covers iterations", "program", "what"]]


def model_yield(engine: Engine, run_id: int) -> pd.DataFrame:
    """Per model: decided proposals, children above their parent, seconds per improvement (the
    model bandit's record)."""
    from evolve.archive.events import records_on

    with engine.connect() as c:
        records = records_on(c, run_id)
    rows = [(r.name, r.calls, r.improvements,
             (r.seconds / r.improvements) if r.improvements else None) for r in records.values()]
    return pd.DataFrame(rows, columns=["model", "proposals", "improving", "s per improvement"])


def edit_yield(engine: Engine, run_id: int) -> pd.DataFrame:
    """Per edit kind (diff, rewrite, function, crossover, repair; tune and guard, which make no
    LLM call): proposals, children, valid children, children above their parent (above both for
    a crossover: the bench's rule), and LLM seconds and dollars per improvement."""
    child, parent, mate = aliased(Program), aliased(Program), aliased(Program)
    valid = case((child.status == "ok", 1), else_=0)
    better = case((and_(child.status == "ok", child.combined_score > parent.combined_score,
                        (mate.id.is_(None)) | (child.combined_score > mate.combined_score)), 1),
                  else_=0)
    spent = (select(LlmCall.proposal, func.sum(LlmCall.latency).label("seconds"),
                     func.sum(LlmCall.cost).label("dollars"))
             .where(LlmCall.run_id == run_id).group_by(LlmCall.proposal)).subquery()
    proposals = (select(Iteration.edit_kind, func.count(), func.count(child.id), func.sum(valid),
                        func.sum(better), func.sum(spent.c.seconds), func.sum(spent.c.dollars))
                 .outerjoin(child, (child.id == Iteration.child_id) & (Iteration.outcome == "child"))
                 .outerjoin(parent, parent.id == child.parent_id)
                 .outerjoin(mate, mate.id == child.parent2_id)
                 .outerjoin(spent, spent.c.proposal == Iteration.proposal)
                 .where(Iteration.run_id == run_id, Iteration.edit_kind.is_not(None),
                        Iteration.edit_kind != "variant")
                 .group_by(Iteration.edit_kind))
    no_call = (select(child.edit_kind, func.count(), func.count(), func.sum(valid), func.sum(better),
                      func.sum(0.0), func.sum(0.0))
               .select_from(child).outerjoin(parent, parent.id == child.parent_id)
               .outerjoin(mate, mate.id == child.parent2_id)
               .where(child.run_id == run_id, child.edit_kind.in_(("tune", "guard")))
               .group_by(child.edit_kind))
    with Session(engine) as s:
        rows = s.execute(proposals).all() + s.execute(no_call).all()
    out = []
    for kind, asked, children, ok, improved, seconds, dollars in rows:
        ok, improved, seconds, dollars = int(ok or 0), int(improved or 0), seconds or 0.0, dollars or 0.0
        asked = 0 if kind in ("tune", "guard") else asked  # made without a proposal
        out.append((kind, asked, children, ok, f"{100 * ok / children:.0f}%" if children else "-",
                    improved, seconds / improved if improved else None,
                    dollars / improved if improved else None))
    return pd.DataFrame(out, columns=["edit", "proposals", "children", "valid", "valid share",
                                      "improving", "LLM s per improvement", "$ per improvement"])


def direction_yield(engine: Engine, run_id: int) -> pd.DataFrame:
    """Per prompt direction used: proposals, children above their parent, and where it came from
    (built in, or written by the LLM at an iteration)."""
    from evolve.archive.events import direction_records

    with engine.connect() as c:
        records = direction_records(c, run_id)
    with Session(engine) as s:
        written = dict(s.execute(select(SearchEvent.text, SearchEvent.iteration).where(
            SearchEvent.run_id == run_id, SearchEvent.kind == "variant")).all())
    names = list(records) + [t for t in written if t not in records]
    rows = [(d, records[d].uses if d in records else 0, records[d].improvements if d in records else 0,
             f"written at iteration {written[d]}" if d in written else "built in") for d in names]
    frame = pd.DataFrame(rows, columns=["direction", "proposals", "improving", "origin"])
    return frame.sort_values(["improving", "proposals"], ascending=False, ignore_index=True)


def elites(engine: Engine, run_id: int) -> pd.DataFrame:
    stmt = (select(Elite.island, Elite.cell, Elite.program_id, Elite.score)
            .where(Elite.run_id == run_id).order_by(Elite.island, Elite.cell))
    return _frame(engine, stmt, ["island", "cell", "program", "score"])


def baselines(engine: Engine, run_id: int) -> pd.DataFrame:
    stmt = (select(BaselineScore.name, BaselineScore.set_name, BaselineScore.ok, BaselineScore.metrics,
                   BaselineScore.combined_score, BaselineScore.evaluator_version)
            .where(BaselineScore.run_id == run_id).order_by(BaselineScore.id))
    return _frame(engine, stmt, ["policy", "set", "ok", "metrics", "score", "evaluator"])


def evaluations(engine: Engine, program_ids: list[int]) -> pd.DataFrame:
    stmt = (select(Evaluation.program_id, Evaluation.set_name, Evaluation.ok, Evaluation.metrics,
                   Evaluation.combined_score, Evaluation.feedback, Evaluation.error,
                   Evaluation.error_kind, Evaluation.seconds, Evaluation.evaluator_version,
                   Evaluation.created_at)
            .where(Evaluation.program_id.in_(program_ids)).order_by(Evaluation.id))
    return _frame(engine, stmt, ["program", "set", "ok", "metrics", "score", "feedback", "error",
                                 "error kind", "seconds", "evaluator", "at"])


@dataclass(frozen=True)
class ProgramDetail:
    """One program with everything that explains it."""

    id: int
    run_id: int
    code: str
    parent_id: int | None
    parent_code: str | None
    generation: int
    island: int
    status: str
    score: float | None
    cell: str | None
    features: dict | None
    created_at: object
    iteration: dict | None  # the proposal that made it: number, model, edit kind, outcome, reason
    llm_calls: list[dict]  # messages, reply, tokens, latency, error (every attempt)
    tasks: list[dict]  # distributed evaluation ledger rows (attempts, worker)
    parent2_id: int | None = None  # a crossover's second parent


def _iteration(it: Iteration | None) -> dict | None:
    return None if it is None else {
        "number": it.number, "model": it.model, "edit kind": it.edit_kind, "outcome": it.outcome,
        "reason": it.reason, "parent": it.parent_id, "inspirations": it.inspiration_ids,
        "island": it.island, "at": it.created_at, "direction": it.direction, "child": it.child_id}


def _calls(s: Session, it: Iteration | None) -> list[dict]:
    calls = s.scalars(select(LlmCall).where(LlmCall.proposal == it.proposal)
                      .order_by(LlmCall.id)).all() if it else []
    return [{"attempt": c.attempt, "model": c.model, "messages": c.messages, "reply": c.reply,
             "prompt tokens": c.prompt_tokens, "completion tokens": c.completion_tokens,
             "cost $": c.cost, "latency s": c.latency, "error": c.error} for c in calls]


def program_detail(engine: Engine, program_id: int) -> ProgramDetail | None:
    with Session(engine) as s:
        p = s.get(Program, program_id)
        if p is None:
            return None
        parent = s.get(Program, p.parent_id) if p.parent_id else None
        it = s.scalar(select(Iteration).where(Iteration.child_id == program_id,
                                              Iteration.outcome == "child")
                      .order_by(Iteration.number).limit(1))
        tasks = s.scalars(select(EvalTask).where(EvalTask.program_id == program_id)
                          .order_by(EvalTask.id)).all()
        return ProgramDetail(
            id=p.id, run_id=p.run_id, code=p.code, parent_id=p.parent_id, parent2_id=p.parent2_id,
            parent_code=parent.code if parent else None, generation=p.generation, island=p.island,
            status=p.status, score=p.combined_score, cell=p.cell, features=p.features,
            created_at=p.created_at, iteration=_iteration(it), llm_calls=_calls(s, it),
            tasks=[{"set": t.set_name, "state": t.state, "attempts": t.attempts, "sends": t.sends,
                    "worker": t.claimed_by, "message": t.message} for t in tasks])


@dataclass(frozen=True)
class ProposalDetail:
    """One iteration (a proposal), whatever its outcome, with its LLM calls."""

    iteration: dict
    llm_calls: list[dict]


def proposal_detail(engine: Engine, run_id: int, number: int) -> ProposalDetail | None:
    with Session(engine) as s:
        it = s.scalar(select(Iteration).where(Iteration.run_id == run_id, Iteration.number == number)
                      .order_by(Iteration.id).limit(1))
        return None if it is None else ProposalDetail(_iteration(it), _calls(s, it))


def children(engine: Engine, program_id: int) -> pd.DataFrame:
    """The programs made from ``program_id`` (as first or second parent): id, status, score."""
    stmt = (select(Program.id, Program.status, Program.combined_score, Program.edit_kind)
            .where((Program.parent_id == program_id) | (Program.parent2_id == program_id))
            .order_by(Program.id))
    return _frame(engine, stmt, ["id", "status", "score", "edit"])


def program_title(engine: Engine, program_id: int) -> str:
    """A program as the report and status name it: 'initial (#1)', 'wmdd (#3)', 'evolved #12'."""
    from evolve.report import program_name

    with Session(engine) as s:
        row = s.execute(select(Program.edit_kind, Program.label).where(Program.id == program_id)).first()
    return program_name(row[0] if row else None, row[1] if row else None, program_id)


def best_program(engine: Engine, run_id: int) -> int | None:
    """The run's winner, by the archive's one definition (``Archive.winner``)."""
    with Session(engine) as s:
        validated = s.scalar(statements.VALIDATED_WINNER, {"run_id": run_id})
        if validated is not None:
            return validated
        return s.scalar(statements.TOP_PROGRAMS, {"run_id": run_id, "n": 1})


def lineage(frame: pd.DataFrame, program_id: int) -> list[int]:
    """Ids from the seed to ``program_id``, read from the run's program frame."""
    parent = dict(zip(frame["id"], frame["parent"]))
    path, current = [], program_id
    while current is not None and not pd.isna(current) and current not in path:
        path.append(int(current))
        current = parent.get(int(current))
    return path[::-1]
