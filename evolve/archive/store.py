"""Archive queries: the only place the engine reads or writes the database.

Every method is one short transaction. Reads used per iteration touch indexed columns and
bounded row counts (elites of one island, top-k by score), so their cost does not grow with
the number of programs stored. The per-iteration paths use Core statements on a plain connection
(the ORM's unit of work cost several ms per iteration), reads take no write lock, and a program
is cached once evaluated: from then on its code, score and train metrics never change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from evaluators.base import EvalOutcome
from evaluators.storable import clean_optional, clean_outcome, clean_text
from evolve.archive import statements as sql
from evolve.archive.codehash import code_hash, normalised_hash
from evolve.archive.db import make_engine, sqlite_url
from evolve.archive.db import migrate as upgrade
from evolve.archive.models import (
    BaselineScore,
    Elite,
    Evaluation,
    Iteration,
    LlmCall,
    Program,
    Run,
    utcnow,
)
from evolve.edits import UNCHANGED

PROGRAM_CACHE = 4096  # evaluated programs kept in memory (parents and inspirations recur)


@dataclass(frozen=True)
class CallYield:
    """LLM calls of a run by purpose and how many gave a new valid program."""
    repair_calls: int
    repair_valid: int
    proposal_calls: int
    proposal_valid: int

    def repair_pays(self, trials: int) -> bool:
        """Whether a repair call is expected to give a valid program at least as often as a fresh
        proposal (Laplace-smoothed rates), after ``trials`` repair calls to learn it. Repairs that
        never gave a valid program do not pay even where proposals gave none either (the issue 17
        bin_packing runs: 17 of 18 repairs echoed the failing code, proposals 0 valid of 18 as
        well, and the ties kept half of every run's calls on repairs); a proposal at least
        explores."""
        if self.repair_calls < trials:
            return True
        if self.repair_valid == 0:
            return False
        return ((self.repair_valid + 1) / (self.repair_calls + 2)
                >= (self.proposal_valid + 1) / (self.proposal_calls + 2))


@dataclass(frozen=True)
class ProgramView:
    """A program row detached from its session."""

    id: int
    code: str
    parent_id: int | None
    generation: int
    island: int
    status: str
    combined_score: float | None
    cell: str | None
    metrics: dict
    feedback: str
    error: str | None
    edit_kind: str | None = None  # seed|baseline|diff|rewrite|function|repair|tune|crossover|guard
    label: str | None = None  # a baseline's name
    fingerprint: str | None = None  # digest of its outputs on the quick check
    same_as: int | None = None  # status "same": the program it behaved exactly like
    params: dict | None = None  # a tuned program's constants
    error_kind: str | None = None  # how it failed: load|exception|timeout|invalid|crash|same|...


@dataclass(frozen=True)
class EliteView:
    cell: str
    program_id: int
    score: float
    children_count: int


@dataclass(frozen=True)
class ChildDraft:
    """What an applied edit (or a tuning) produced, before evaluation."""

    code: str
    parent_id: int | None
    parent2_id: int | None
    generation: int
    island: int
    edit_kind: str | None = None
    params: dict | None = None
    label: str | None = None


@dataclass(frozen=True)
class StartView:
    """A starting program of a run (the seed or a baseline) and its train score."""

    id: int
    edit_kind: str
    label: str | None
    island: int
    status: str
    combined_score: float | None


class Archive:
    def __init__(self, url: str, migrate: bool = True):
        """Open the archive at ``url``; bring its schema up to date unless ``migrate`` is off
        (workers check the revision instead of racing each other to upgrade)."""
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = self.engine.execution_options(evolve_read_only=True)
        self._programs: dict[int, ProgramView] = {}  # evaluated programs (train view), oldest first

    @classmethod
    def for_run_dir(cls, run_dir: Path) -> Archive:
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(sqlite_url(run_dir / "archive.db"))

    def session(self) -> Session:
        return self._session()

    def _read(self) -> Connection:
        """A connection for reads: a plain deferred transaction, no write lock."""
        return self._reader.connect()

    def close(self) -> None:
        self.engine.dispose()

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, name: str, problem: str, config: dict, draw: int | None = None) -> int:
        with self.session() as s, s.begin():
            run = Run(name=name, problem=problem, config=config, status="running", draw=draw)
            s.add(run)
            s.flush()
            return run.id

    def program_codes(self, run_id: int) -> list[tuple[int, int, str]]:
        """(id, island, code) of every program of the run, oldest first."""
        with self.session() as s:
            rows = s.execute(select(Program.id, Program.island, Program.code)
                             .where(Program.run_id == run_id).order_by(Program.id)).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def run_draw(self, run_id: int) -> int | None:
        """The draw of a run's drawn instance sets (None: the public draw)."""
        with self.session() as s:
            return s.scalar(select(Run.draw).where(Run.id == run_id))

    def find_run(self, name: str) -> Run | None:
        with self.session() as s:
            return s.scalar(select(Run).where(Run.name == name))

    def set_run_status(self, run_id: int, status: str, reason: str | None = None) -> None:
        with self.session() as s, s.begin():
            s.execute(update(Run).where(Run.id == run_id)
                      .values(status=status, stop_reason=reason, updated_at=utcnow()))

    def touch_run(self, run_id: int) -> None:
        """The controller's heartbeat: the run is running, now (evolve/heartbeat.py)."""
        with self.session() as s, s.begin():
            s.execute(update(Run).where(Run.id == run_id).values(status="running", updated_at=utcnow()))

    def set_run_config(self, run_id: int, config: dict) -> None:
        with self.session() as s, s.begin():
            s.execute(update(Run).where(Run.id == run_id).values(config=config, updated_at=utcnow()))

    # -- programs and evaluations -------------------------------------------------------------
    def program_by_hash(self, run_id: int, code: str) -> int | None:
        with self.session() as s:
            return s.scalar(select(Program.id).where(Program.run_id == run_id,
                                                     Program.sha256 == code_hash(code)))

    def add_seed(self, run_id: int, code: str) -> int:
        """Insert the initial program (generation 0) once; return its id."""
        return self.add_start(run_id, code, "seed", None, 0)

    def add_start(self, run_id: int, code: str, kind: str, label: str | None, island: int) -> int:
        """Insert a starting program (``seed`` or ``baseline``, generation 0) once; its id. A start
        whose code another start already has (exactly) is that one."""
        existing = self.program_by_hash(run_id, code)
        if existing is not None:
            return existing
        with self.session() as s, s.begin():
            prog = Program(run_id=run_id, sha256=code_hash(code), norm_hash=normalised_hash(code),
                           code=code, generation=0, island=island, iteration=0, status="pending",
                           edit_kind=kind, label=label)
            s.add(prog)
            s.flush()
            return prog.id

    def starts(self, run_id: int) -> list[StartView]:
        """The run's starting programs (seed, baselines), oldest first."""
        with self._read() as c:
            rows = c.execute(select(Program.id, Program.edit_kind, Program.label, Program.island,
                                    Program.status, Program.combined_score)
                             .where(Program.run_id == run_id,
                                    Program.edit_kind.in_(("seed", "baseline")))
                             .order_by(Program.id)).all()
        return [StartView(*r) for r in rows]

    def commit_iteration(self, run_id: int, *, proposal: str, island: int, parent_id: int | None,
                         inspiration_ids: list[int], model: str | None, edit_kind: str | None,
                         outcome: str, reason: str | None, child: ChildDraft | None,
                         normalised: bool = True, direction: str | None = None
                         ) -> tuple[int, int | None, bool]:
        """Store a finished proposal and its child (if any) in one transaction.

        Returns (iteration number, child program id, whether the child is new). A child whose
        code already exists in the run (exactly, or, with ``normalised``, up to comments,
        docstrings and layout) is not stored again: the iteration records ``duplicate`` and
        points at the original.
        """
        with self.engine.begin() as c:
            number = (c.scalar(sql.LAST_ITERATION, {"run_id": run_id}) or 0) + 1
            child_id = None
            fresh = False
            if child is not None:
                child_id, fresh = _insert_child(c, run_id, child, number, normalised)
                if not fresh:
                    outcome = "duplicate"
                    reason = f"same code as program {child_id}" + (
                        "" if _same_text(c, child_id, child.code) else
                        " up to comments, docstrings and layout")
            c.execute(sql.INSERT_ITERATION, {
                "run_id": run_id, "number": number, "proposal": proposal, "island": island,
                "parent_id": parent_id, "inspiration_ids": inspiration_ids, "model": model,
                "edit_kind": edit_kind, "outcome": outcome, "reason": clean_optional(reason),
                "child_id": child_id, "direction": direction})
            return number, child_id, fresh

    def add_program(self, run_id: int, child: ChildDraft, iteration: int,
                    normalised: bool = True) -> tuple[int, bool]:
        """Store a program made without an LLM call (a tuning); (id, whether it is new)."""
        with self.engine.begin() as c:
            return _insert_child(c, run_id, child, iteration, normalised)

    def record_evaluation(self, program_id: int, *, set_name: str, evaluator_version: str,
                          outcome: EvalOutcome | dict, seed: int = 0, features: dict | None = None,
                          cell: str | None = None, elite_islands: Sequence[int] = ()) -> bool:
        """Store an evaluation (idempotent on its key) in one transaction with its consequences.

        See ``store_outcome``. Returns False (and changes nothing) when the same evaluation was
        already stored.
        """
        def write(out: EvalOutcome, features: dict | None, cell: str | None,
                  elite_islands: Sequence[int]) -> bool:
            with self.engine.begin() as c:
                return store_outcome(c, program_id, set_name, evaluator_version, seed, out,
                                     features, cell, elite_islands)

        return store_or_fail(write, outcome, features, cell, elite_islands)

    def evaluation_outcome(self, program_id: int, set_name: str, evaluator_version: str,
                           seed: int = 0) -> EvalOutcome | None:
        """The stored outcome of one evaluation key (what ``run_job`` returned), if any."""
        with self.session() as s:
            ev = s.scalar(select(Evaluation).where(
                Evaluation.program_id == program_id, Evaluation.set_name == set_name,
                Evaluation.evaluator_version == evaluator_version, Evaluation.seed == seed))
            if ev is None:
                return None
            prog = s.get(Program, program_id) if set_name == "train" else None
            return EvalOutcome(  # for train, what the outcome set on the program itself too
                ok=ev.ok, metrics=ev.metrics, combined_score=ev.combined_score,
                feedback=ev.feedback, error=ev.error, error_kind=ev.error_kind, seconds=ev.seconds,
                evaluator_version=ev.evaluator_version,
                fingerprint=prog.fingerprint if prog else None, same_as=prog.same_as if prog else None)

    def pending_programs(self, run_id: int) -> list[ProgramView]:
        with self.session() as s:
            ids = s.scalars(select(Program.id).where(Program.run_id == run_id,
                                                     Program.status == "pending")
                            .order_by(Program.id)).all()
        return [self.program(i) for i in ids]

    def program(self, program_id: int, set_name: str = "train") -> ProgramView:
        """The program with its latest evaluation on ``set_name`` (train: cached once evaluated)."""
        cached = self._programs.get(program_id) if set_name == "train" else None
        if cached is not None:
            return cached
        with self._read() as c:
            p = c.execute(sql.PROGRAM_ROW, {"pid": program_id}).first()
            if p is None:
                raise KeyError(f"no program {program_id}")
            ev = c.execute(sql.LATEST_EVALUATION, {"pid": program_id, "set_name": set_name}).first()
        view = ProgramView(**p._mapping, metrics=ev.metrics if ev else {}, feedback=ev.feedback if ev else "",
                           error=ev.error if ev else None, error_kind=ev.error_kind if ev else None)
        if set_name == "train" and view.status != "pending" and ev is not None:
            self._programs[program_id] = view
            if len(self._programs) > PROGRAM_CACHE:  # bounded: a 100k-program run stays small
                del self._programs[next(iter(self._programs))]
        return view

    def knows_code(self, run_id: int, code: str) -> bool:
        """Whether the run holds ``code`` already, exactly or up to comments, docstrings and layout."""
        with self._read() as c:
            return c.scalar(sql.PROGRAM_BY_HASH, {"run_id": run_id, "sha": code_hash(code),
                                                  "norm": normalised_hash(code)}) is not None

    def _latest_attempts(self, run_id: int, parent_id: int, n: int) -> list[Row]:
        with self._read() as c:
            return c.execute(sql.FAILED_ATTEMPTS,
                             {"run_id": run_id, "parent_id": parent_id, "n": n}).all()

    def repeats(self, run_id: int, parent_id: int, k: int) -> int:
        """How many of the latest ``k`` proposals from this parent repeated something: a reply
        equal to an earlier program, an edit that changed nothing, a child that behaved exactly
        like its parent."""
        return sum(outcome == "duplicate" or (outcome == "rejected" and reason == UNCHANGED)
                   or (outcome == "child" and kind == "same")
                   for outcome, reason, _error, kind, _child in self._latest_attempts(run_id, parent_id, k))

    def call_yield(self, run_id: int) -> CallYield:
        """How many LLM calls went to repairs and to proposals, and how many of each gave a new
        valid program."""
        tally = {True: [0, 0], False: [0, 0]}
        with self._read() as c:
            for kind, calls, valid in c.execute(sql.CALL_YIELD, {"run_id": run_id}):
                tally[kind == "repair"][0] += calls
                tally[kind == "repair"][1] += valid or 0
        return CallYield(*tally[True], *tally[False])

    def failed_attempts(self, run_id: int, parent_id: int, k: int) -> list[str]:
        """Why the latest proposals from this parent went nowhere (rejections, failed children)."""
        rows = self._latest_attempts(run_id, parent_id, 4 * k)
        out = []
        for outcome, reason, error, kind, child in rows:
            if outcome == "rejected":
                out.append(f"reply rejected: {reason}")
            elif outcome == "duplicate":
                out.append(f"the reply repeated program {child} ({reason}): propose a different change")
            elif outcome == "child" and kind == "same":
                out.append(f"program {child} computed exactly the same outputs as its parent on every "
                           "quick-check instance (small ones): the change had no effect on those "
                           "decisions; change what the function computes, not how it is written")
            elif outcome == "child" and error:
                out.append(f"program failed: {error}")
        return out[:k]

    def tuned_parents(self, run_id: int) -> set[int]:
        """Programs of the run that have a tuned child already."""
        with self._read() as c:
            return set(c.scalars(select(Program.parent_id).where(
                Program.run_id == run_id, Program.edit_kind == "tune")).all())

    def island_best(self, run_id: int, island: int) -> float | None:
        """The best score in the island's MAP-Elites grid (None: empty)."""
        with self._read() as c:
            return c.scalar(select(func.max(Elite.score)).where(Elite.run_id == run_id,
                                                                Elite.island == island))

    def top_programs(self, run_id: int, k: int) -> list[tuple[int, float]]:
        with self._read() as c:
            rows = c.execute(sql.TOP_PROGRAMS, {"run_id": run_id, "n": k}).all()
        return [(r[0], r[1]) for r in rows]

    def winner(self, run_id: int) -> int | None:
        """The run's winner, the one program report, status, export and dashboard call so: the
        best finalist on the validation set where finalists were scored there, else the best on
        the training set (ties: the earliest)."""
        with self._read() as c:
            validated = c.scalar(sql.VALIDATED_WINNER, {"run_id": run_id})
        if validated is not None:
            return validated
        top = self.top_programs(run_id, 1)
        return top[0][0] if top else None

    # -- MAP-Elites grid ----------------------------------------------------------------------
    def elites(self, run_id: int, island: int) -> list[EliteView]:
        with self._read() as c:
            rows = c.execute(sql.ISLAND_ELITES, {"run_id": run_id, "island": island}).all()
        return [EliteView(*r) for r in rows]

    def offer_elite(self, run_id: int, island: int, cell: str, program_id: int, score: float) -> bool:
        """Place the program in (island, cell) if the cell is empty or it scores higher."""
        with self.engine.begin() as c:
            return _offer(c, run_id, island, cell, program_id, score)

    def last_migration(self, run_id: int) -> int:
        with self.session() as s:
            return s.scalar(select(Run.last_migration).where(Run.id == run_id)) or 0

    def set_last_migration(self, run_id: int, iteration: int) -> None:
        with self.session() as s, s.begin():
            s.execute(update(Run).where(Run.id == run_id).values(last_migration=iteration))

    # -- LLM calls ---------------------------------------------------------------------------
    def record_llm_call(self, run_id: int, **fields: object) -> None:
        with self.engine.begin() as c:
            c.execute(sql.INSERT_LLM_CALL, {"run_id": run_id, **fields,
                                            "error": clean_optional(fields.get("error"))})

    # -- baselines ---------------------------------------------------------------------------
    def record_baseline(self, run_id: int, name: str, set_name: str, outcome: EvalOutcome) -> None:
        """Keep a baseline's trusted outcome with the run (once per name, set and version)."""
        try:
            with self.session() as s, s.begin():
                s.add(BaselineScore(run_id=run_id, name=name, set_name=set_name,
                                    evaluator_version=outcome.evaluator_version, ok=outcome.ok,
                                    metrics=outcome.metrics, combined_score=outcome.combined_score,
                                    error=outcome.error, seconds=outcome.seconds))
        except IntegrityError:
            pass  # already stored for this evaluator version

    def baseline_outcomes(self, run_id: int, evaluator_version: str
                          ) -> dict[tuple[str, str], EvalOutcome]:
        """{(baseline name, set): outcome} stored for this run under ``evaluator_version``."""
        with self.session() as s:
            rows = s.scalars(select(BaselineScore).where(
                BaselineScore.run_id == run_id,
                BaselineScore.evaluator_version == evaluator_version)).all()
        return {(r.name, r.set_name): EvalOutcome(
            ok=r.ok, metrics=r.metrics, combined_score=r.combined_score, error=r.error,
            seconds=r.seconds, evaluator_version=r.evaluator_version) for r in rows}

    # -- run summary -------------------------------------------------------------------------
    def iteration_count(self, run_id: int) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Iteration)
                            .where(Iteration.run_id == run_id)) or 0

    def total_cost(self, run_id: int) -> float:
        with self.session() as s:
            return float(s.scalar(select(func.coalesce(func.sum(LlmCall.cost), 0.0))
                                  .where(LlmCall.run_id == run_id)) or 0.0)


def _insert_child(c: Connection, run_id: int, child: ChildDraft, iteration: int,
                  normalised: bool) -> tuple[int, bool]:
    """Insert the child unless the run has its code already; (program id, whether inserted)."""
    sha, norm = code_hash(child.code), normalised_hash(child.code)
    existing = c.scalar(sql.PROGRAM_BY_HASH, {"run_id": run_id, "sha": sha,
                                              "norm": norm if normalised else None})
    if existing is not None:
        return existing, False
    child_id = c.scalar(sql.INSERT_PROGRAM, {
        "run_id": run_id, "sha256": sha, "norm_hash": norm, "code": child.code,
        "parent_id": child.parent_id, "parent2_id": child.parent2_id,
        "generation": child.generation, "island": child.island, "iteration": iteration,
        "status": "pending", "children_count": 0, "edit_kind": child.edit_kind,
        "label": child.label, "params": child.params})
    if child.parent_id is not None:
        c.execute(sql.ADD_CHILD, {"pid": child.parent_id})
    return child_id, True


def _same_text(c: Connection, program_id: int, code: str) -> bool:
    return c.scalar(select(Program.sha256).where(Program.id == program_id)) == code_hash(code)


def _dialect(c: Connection | Session) -> str:
    return (c.dialect if isinstance(c, Connection) else c.get_bind().dialect).name


def _offer(c: Connection | Session, run_id: int, island: int, cell: str, program_id: int,
           score: float) -> bool:
    """Place the program in the cell if it is empty or the program scores higher: one upsert,
    atomic against concurrent writers on SQLite and PostgreSQL."""
    placed = c.execute(sql.offer_elite(_dialect(c)), {"run_id": run_id, "island": island,
                                                       "cell": cell, "program_id": program_id,
                                                       "score": score}).first()
    return placed is not None


def store_or_fail(write: Callable[[EvalOutcome, dict | None, str | None, Sequence[int]], bool],
                  outcome: EvalOutcome | dict, features: dict | None, cell: str | None,
                  elite_islands: Sequence[int]) -> bool:
    """``write(outcome, features, cell, elite_islands)`` in its own transaction; if the database
    refuses a value of it (not the connection or the schema: what a candidate's text could still
    cause after ``clean_outcome``), write instead that the program failed (``unstorable``)."""
    try:
        return write(EvalOutcome.of(outcome), features, cell, elite_islands)
    except StatementError as exc:
        if isinstance(exc, (OperationalError, InterfaceError, IntegrityError)):
            raise
        cause = type(exc.orig or exc).__name__
        message = (f"the evaluation's outcome could not be stored ({cause}: "
                   f"{clean_text(str(exc.orig or exc), 300)}); the program counts as failed")
    return write(EvalOutcome(ok=False, feedback=message, error=message, error_kind="unstorable"),
                 None, None, ())


def store_outcome(c: Connection | Session, program_id: int, set_name: str, evaluator_version: str,
                  seed: int, outcome: EvalOutcome, features: dict | None, cell: str | None,
                  elite_islands: Sequence[int]) -> bool:
    """Insert an evaluation inside an open transaction; False if its key is already stored.

    For the train set the program's status, score and cell follow, and a passing program is
    offered to the MAP-Elites grid of each island in ``elite_islands``.
    """
    outcome = clean_outcome(outcome)  # error text and kind are the candidate's doing
    stored = c.execute(sql.insert_evaluation(_dialect(c)), {
        "program_id": program_id, "set_name": set_name, "evaluator_version": evaluator_version,
        "seed": seed, "ok": outcome.ok, "metrics": outcome.metrics,
        "combined_score": outcome.combined_score, "feedback": outcome.feedback,
        "error": outcome.error, "error_kind": outcome.error_kind,
        "seconds": outcome.seconds}).first()
    if stored is None:
        return False
    if set_name == "train":
        ok = bool(outcome.ok)
        same = outcome.same_as if outcome.error_kind == "same" else None
        c.execute(sql.SCORE_PROGRAM, {"pid": program_id,
                                      "status": "ok" if ok else "same" if same else "failed",
                                      "score": outcome.combined_score if ok else None,
                                      "features": features, "cell": cell,
                                      "fingerprint": outcome.fingerprint, "same_as": same})
        if ok and cell is not None:
            run_id = c.scalar(sql.RUN_OF_PROGRAM, {"pid": program_id})
            for island in elite_islands:
                _offer(c, run_id, island, cell, program_id, outcome.combined_score)
    return True
