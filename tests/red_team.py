"""Code that red-team tests put in front of a candidate (the candidate side of a probe, run in the
sandbox; each test asserts what the verifier scored)."""

# at import: fails if a marker, a preloaded module attribute or a file of an earlier evaluation is
# still there, then leaves its own (a call counter in CALLS shows module state kept across sets)
STATE_PROBE = '''
import builtins, glob, os, random, tempfile
MARK = "evolve-red-team-seen"
PLACES = [os.path.join(tempfile.gettempdir(), MARK), os.path.join(os.path.expanduser("~"), MARK),
          "/tmp/" + MARK, "/var/tmp/" + MARK, "/dev/shm/" + MARK]
SEEN = [p for p in PLACES if os.path.exists(p)] + glob.glob("/tmp/*/" + MARK)
SEEN += [m.__name__ for m in (random, builtins) if hasattr(m, "RED_TEAM_SEEN")]  # preloaded modules
if SEEN:
    raise RuntimeError(f"state survived from an earlier evaluation: {SEEN}")
with open(PLACES[0], "w") as fh:  # the private temp dir is writable ...
    fh.write("seen")
for path in PLACES[1:]:  # ... the shared places are not, or not shared
    try:
        with open(path, "w") as fh:
            fh.write("seen")
    except OSError:
        pass
random.RED_TEAM_SEEN = builtins.RED_TEAM_SEEN = True
CALLS = [0]
'''


def spy_code(paths: list[str], folders: list[str], modules: tuple[str, ...], objects: tuple[str, ...],
        root: str) -> str:
    """Candidate code that, at import, reads every file of ``paths`` and the parent's /proc
    environment and memory, lists ``folders``, imports ``modules`` from ``root`` and defines
    ``verifier_objects()`` (objects of the types named ``objects`` in its own memory); what it
    got is in ``LEAK``. In the verifier's process it gets everything; in the sandbox, nothing."""
    return f'''
import gc, glob, os, sys
LEAK = []
for path in {paths!r} + [f"/proc/{{os.getppid()}}/environ", f"/proc/{{os.getppid()}}/mem"]:
    try:
        with open(path, "rb") as fh:
            if fh.read(64):
                LEAK.append(path)
    except OSError:
        pass
for folder in {folders!r}:
    LEAK += glob.glob(folder + "/*")
sys.path.insert(0, {root!r})
for name in {modules!r}:
    try:
        __import__(name)
        LEAK.append(name)
    except Exception:
        pass


def verifier_objects():
    return [type(o).__name__ for o in gc.get_objects() if type(o).__name__ in {objects!r}]
'''
