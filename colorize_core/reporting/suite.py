"""The experiment suite (``colorize-suite``, ``python -m colorize_core.reporting.suite``).

Runs the notebooks in ``notebooks/`` with papermill under a profile (smoke, cpu, full; see
``profiles.py``) and writes ``reports/<profile>/``: the executed notebooks, an HTML copy of each,
``suite.log`` (everything the console leaves out; see ``console.py``),
each notebook's group tables (CSV, Markdown), figures (PNG; JPEG for photo grids) and scores, the
summary's merged tables,
``run.json`` (profile, device, commit, package versions, wall times; earlier runs into the same
folder, e.g. with ``--only``, are kept and listed) and ``index.html`` linking it all. A notebook
that fails is reported with its cell and error and the others still run; the exit status is the
number of notebooks that failed. Ctrl-C stops the running notebooks' kernels at once (their
executed copies keep what they did so far), records the notebooks that ended in ``run.json`` and
``index.html``, prints one line and exits with 130.

Each notebook runs in the report folder, and the paths it is given (``OUTPUT_DIR``,
``REPORT_DIR``, a ``folder:`` dataset) are relative to that folder: an executed notebook names no
folder of the machine that ran it, and reruns the same wherever the checkout lies. Papermill's own
record of the notebook it ran and the copy it wrote is made relative too (``relative_record``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

from colorize_core.data.atomic import write_text
from colorize_core.data.datasets import FOLDER_PREFIX
from colorize_core.reporting.console import SuiteConsole, duration, earlier_seconds
from colorize_core.reporting.index_page import write_index
from colorize_core.reporting.kernels import LIVE, kernel_manager
from colorize_core.reporting.profiles import NOTEBOOKS, PROFILE_NAMES, notebook_parameters
from colorize_core.training.checkpoint import best_checkpoint
from colorize_core.training.device import cpu_has_bf16, pick_device
from colorize_core.training.provenance import provenance

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
KERNEL = "colorize"  # the Jupyter kernel of this environment; ensure_kernel() registers it
# Folders the notebooks' code reads from the environment (datasets, tensor cache, data home).
PATH_VARIABLES = ("COLORIZE_DATA", "COLORIZE_CACHE", "COLORIZE_HOME")
INTERRUPTED = "interrupted (Ctrl-C)"  # the error of the notebook whose kernel Ctrl-C stopped
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


@dataclass
class NotebookRun:
    """How one notebook went."""

    name: str
    ok: bool
    seconds: float
    notebook: str  # executed copy, relative to the report folder
    html: str | None
    error: str | None = None
    cell: int | None = None  # execution count of the failing cell
    detail: str | None = field(default=None, repr=False)  # the full traceback; not in run.json


class SuiteInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the suite after it wrote ``run.json`` and the ``index`` page: ``runs`` are
    the notebooks that ended (the one stopped among them, failed with ``INTERRUPTED``) of the
    ``selected`` number."""

    def __init__(self, runs: list[NotebookRun], selected: int, index: Path) -> None:
        super().__init__(f"interrupted after {len(runs)} of {selected} notebooks")
        self.runs, self.selected, self.index = runs, selected, index

    def line(self) -> str:
        """``interrupted: N of M notebooks ran; report so far: <index.html>``."""
        ran = sum(run.ok for run in self.runs)
        return f"interrupted: {ran} of {self.selected} notebooks ran; report so far: {self.index}"


def ensure_kernel() -> str:
    """Register this Python as the ``colorize`` Jupyter kernel (in this environment) if needed."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL
    except NoSuchKernel:
        pass
    install(kernel_name=KERNEL, display_name="Python (colorize)", prefix=sys.prefix)
    return KERNEL


def export_html(notebook: Path) -> Path:
    """An HTML copy of an executed notebook, next to it."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    write_text(target, body)
    return target


def run_notebook(name: str, parameters: dict, out: Path, log: IO[str] | None = None) -> NotebookRun:
    """Execute ``notebooks/<name>.ipynb`` into ``out/<name>.ipynb``, in ``out``; never raises for
    a failure. With ``log``, the kernel's own output and every cell's output are written there."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source, target = NOTEBOOK_DIR / f"{name}.ipynb", out / f"{name}.ipynb"
    started, error, cell, detail = time.perf_counter(), None, None, None
    try:
        papermill.execute_notebook(
            str(source), str(target), parameters=parameters, kernel_name=KERNEL, cwd=str(out),
            progress_bar=False, log_output=log is not None,
            kernel_manager_class=kernel_manager(log),  # stoppable by Ctrl-C, quiet with a log
        )  # fmt: skip
    except PapermillExecutionError as e:
        error, cell, detail = f"{e.ename}: {e.evalue}", e.exec_count, "\n".join(e.traceback)
    except Exception as e:  # a dead kernel, a missing notebook: report it, keep the batch going
        error, detail = f"{type(e).__name__}: {e}", traceback.format_exc()
    seconds = time.perf_counter() - started
    page = None
    if target.is_file():
        try:
            relative_record(target, source)
            page = export_html(target).name
        except Exception as e:  # the notebook still counts; say why there is no HTML
            error = error or f"HTML export failed: {e}"
    return NotebookRun(
        name, error is None, round(seconds, 1), target.name, page, error, cell, detail
    )


def relative_record(target: Path, source: Path) -> None:
    """Rewrite papermill's ``input_path`` and ``output_path`` in the executed copy ``target``
    (absolute paths of this machine, as the suite gave them) as the notebook ``source`` in its
    folder, as from the checkout (``notebooks/faces_cnn.ipynb``), and the copy relative to the
    report folder it ran in (``faces_cnn.ipynb``). Its ``parameters`` need nothing: the suite
    gives them relative to that folder."""
    import nbformat

    notebook = nbformat.reads(target.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
    record = notebook.metadata.papermill
    record.input_path = f"{source.parent.name}/{source.name}"
    record.output_path = target.name
    write_text(target, nbformat.writes(notebook))


def absolute_environment() -> None:
    """Make each folder in ``PATH_VARIABLES`` absolute, taken from this process's working folder.

    The notebooks run in the report folder and inherit the environment, so a relative path the user
    set (README: ``export COLORIZE_DATA=../shared/datasets``) would point elsewhere there.
    """
    for variable in PATH_VARIABLES:
        if value := os.environ.get(variable):
            os.environ[variable] = str(Path(value).expanduser().resolve())


def relative_to(path: Path, folder: Path) -> str:
    """``path`` as a notebook running in ``folder`` reaches it: relative, in POSIX form."""
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def relative_dataset(name: str, folder: Path) -> str:
    """``folder:PATH`` with PATH (the user's, from where they ran the suite) relative to the
    folder the notebook runs in; other names unchanged."""
    if not name.startswith(FOLDER_PREFIX):
        return name
    path = Path(name.removeprefix(FOLDER_PREFIX)).expanduser()
    return FOLDER_PREFIX + relative_to(path, folder)


def _say(message: str) -> None:
    print(message, flush=True)


def _failure_line(run: NotebookRun) -> str:
    where = f" in cell [{run.cell}]" if run.cell else ""
    return f"FAILED{where}: {run.error}"


def run_suite(
    profile: str,
    *,
    only: list[str] | None = None,
    out: Path | None = None,
    results: Path = ROOT / "results",
    device: str | None = None,
    seed: int | None = None,
    parallel: int = 1,
    overrides: dict[str, dict] | None = None,
    resume: bool = False,
) -> list[NotebookRun]:
    """Run the selected notebooks (summary last) and write the report folder; see module doc."""
    selected = [n for n in NOTEBOOKS if not only or n in only]
    unknown = sorted(set(only or ()) - set(NOTEBOOKS))
    if unknown:
        raise KeyError(
            f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}"
        )
    # Relative paths are the user's, from where they ran this; the notebooks run elsewhere.
    out = (out or ROOT / "reports" / profile).resolve()
    if out == NOTEBOOK_DIR.resolve():  # the executed copies would replace the notebooks run
        raise ValueError(f"--out {out} is the notebooks' own folder; give another report folder")
    out.mkdir(parents=True, exist_ok=True)
    results = results.resolve()
    absolute_environment()
    ensure_kernel()
    started, origin = time.time(), provenance()  # the code the notebooks run, not what it is later

    def parameters(name: str, index: int) -> dict:
        params = notebook_parameters(profile, name)
        params["REPORT_DIR"] = "."  # every notebook writes its tables and figures there
        if name != "summary":  # the summary reads only the report folder
            params["OUTPUT_DIR"] = relative_to(results, out)
        if device:
            params["DEVICE"] = _device_for(device, index, parallel)
        if seed is not None:
            params["SEED"] = seed
        if resume and name != "summary":
            params["RESUME"] = True
        params.update((overrides or {}).get(name, {}))
        if isinstance(params.get("DATASET"), str):
            params["DATASET"] = relative_dataset(params["DATASET"], out)
        return params

    index = {name: i for i, name in enumerate(selected)}
    experiments = {n: parameters(n, i) for n, i in index.items() if n != "summary"}
    waits_for = schedule(experiments, results / profile)  # before anything runs: fail fast
    earlier = earlier_seconds(out / "run.json", ROOT / "reports" / profile / "run.json",
                              profile=profile)  # fmt: skip

    with SuiteConsole(out, selected, earlier, parallel) as console:

        def one(name: str) -> NotebookRun:
            console.started(index[name], name)
            run = run_notebook(name, parameters(name, index[name]), out, console.log)
            if LIVE.stopped and not run.ok:  # its kernel was killed by Ctrl-C
                where = f"[{index[name] + 1}/{len(selected)}] {name}"
                console.note(f"{where}: interrupted ({duration(run.seconds)})", run.detail or "")
                return replace(run, error=INTERRUPTED, cell=None)
            status = "finished" if run.ok else _failure_line(run)
            console.finished(index[name], name, status, run.seconds, run.detail or "")
            return run

        runs, interrupted = run_batch(one, waits_for, "summary" in selected, parallel)

    info = {
        "profile": profile,
        "seed": seed,
        "device": device or "auto",
        "parallel": parallel,
        "wall_seconds": round(time.time() - started, 1),
        "results": str(results),
        "notebooks": [{k: v for k, v in asdict(r).items() if k != "detail"} for r in runs],
        "provenance": origin,
    }
    info = merge_with_earlier(info, out / "run.json")
    write_text(out / "run.json", json.dumps(info, indent=1))  # it holds every earlier run's record
    page = write_index(out, info)
    if interrupted:
        raise SuiteInterrupted(runs, len(selected), page)
    return runs


def run_batch(
    one: Callable[[str], NotebookRun], waits_for: dict[str, set[str]], summary: bool, parallel: int
) -> tuple[list[NotebookRun], bool]:
    """Run the experiments (each after the ones it ``waits_for``), then the summary, with ``one``
    in worker threads, and return their runs and False.

    The main thread only waits here, so Ctrl-C reaches it: then every kernel is killed at once
    (``LIVE.stop_all``), nothing more starts, and once the workers have ended this returns the
    runs that ended (the interrupted one too, marked by ``one``) and True.
    """
    futures: dict[str, Future] = {}

    def after(name: str, sources: Iterable[str]) -> NotebookRun | None:
        for source in sources:  # submitted earlier, so started or done: no deadlock
            futures[source].result()
        return None if LIVE.stopped else one(name)

    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    try:
        for name, sources in waits_for.items():
            futures[name] = pool.submit(after, name, sources)
        if summary:
            futures["summary"] = pool.submit(after, "summary", list(waits_for))
        return [future.result() for future in futures.values()], False
    except KeyboardInterrupt:
        LIVE.stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        _wait_for_workers(pool)
        return [run for future in futures.values() if (run := _ended(future))], True
    finally:
        pool.shutdown(wait=True)
        LIVE.reopen()  # kernels may start again: this batch is over


def _wait_for_workers(pool: ThreadPoolExecutor) -> None:
    """Wait until every worker has saved its notebook and ended; Ctrl-C again kills again."""
    while True:
        try:
            pool.shutdown(wait=True)
            return
        except KeyboardInterrupt:
            LIVE.stop_all()


def _ended(future: Future) -> NotebookRun | None:
    """The run a worker returned; None for a notebook that never started."""
    try:
        return future.result()
    except CancelledError:  # never started, or waited for a notebook that never started
        return None


def runs_made(params: dict) -> set[str]:
    """The run names a notebook writes: ``RUN_NAME`` and ``RUN_NAME-<variant>``."""
    run = params.get("RUN_NAME")
    return {run, *(f"{run}-{v}" for v in params.get("VARIANTS", {}))} if run else set()


def runs_needed(params: dict) -> set[str]:
    """The runs a notebook's variants start from (``init_from``) or average (ensemble members)."""
    needed = set()
    for changes in params.get("VARIANTS", {}).values():
        if changes.get("init_from"):
            needed.add(changes["init_from"])
        needed.update(changes.get("model_kwargs", {}).get("members", []))
    return needed


def schedule(experiments: dict[str, dict], runs_dir: Path) -> dict[str, set[str]]:
    """The order to run notebooks (``{name: parameters}``) in, each with the notebooks it must
    wait for: those that make the runs its variants start from or average. A needed run that no
    selected notebook makes and that is not in ``runs_dir`` raises ``ValueError`` naming it,
    before anything has run (not after an hour of training). The given order is kept wherever
    it already puts the makers first."""
    makers = {run: name for name, params in experiments.items() for run in runs_made(params)}
    after: dict[str, set[str]] = {}
    missing = []
    for name, params in experiments.items():
        external = runs_needed(params) - runs_made(params)
        after[name] = {makers[run] for run in external if run in makers}
        missing += [
            f"{name} needs run {run!r}"
            for run in sorted(external - set(makers))
            if not best_checkpoint(runs_dir / run).is_file()
        ]
    if missing:
        raise ValueError(
            f"{'; '.join(missing)}, which is not in {runs_dir}: run the notebook that makes it "
            "first (faces_cnn makes the faces_cnn-* runs), or add it to --only"
        )
    order: dict[str, set[str]] = {}
    while len(order) < len(experiments):
        ready = next((n for n in experiments if n not in order and after[n] <= set(order)), None)
        if ready is None:
            raise ValueError(f"notebooks need each other's runs: {sorted(set(after) - set(order))}")
        order[ready] = after[ready]
    return order


def merge_with_earlier(info: dict, path: Path) -> dict:
    """Keep what earlier runs into the same report folder did (``--only``, ``--resume``).

    Notebooks not run this time keep their last entry, so ``index.html`` still links them, and
    ``invocations`` lists every run into the folder (time, commit, wall time, notebooks), so the
    report says how its numbers came about even when they took several runs.
    """
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    if earlier.get("profile") != info["profile"]:
        earlier = {}

    def invocation(run: dict) -> dict:
        return {
            "time_utc": run["provenance"]["time_utc"],
            "commit": run["provenance"]["commit"],
            "wall_seconds": run["wall_seconds"],
            "notebooks": [n["name"] for n in run["notebooks"]],
        }

    history = earlier.get("invocations", [invocation(earlier)] if earlier else [])
    now = {n["name"]: n for n in info["notebooks"]}
    entries = {**{n["name"]: n for n in earlier.get("notebooks", [])}, **now}
    return {
        **info,
        "notebooks": [entries[name] for name in NOTEBOOKS if name in entries],
        "invocations": [*history, invocation(info)],
    }


def _device_for(device: str, index: int, parallel: int) -> str:
    """With several GPUs and ``--parallel``, spread notebooks over them (one per GPU)."""
    import torch

    if device in ("cuda", "auto") and parallel > 1 and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return device


def _parse_set(items: list[str]) -> dict[str, dict]:
    """``NOTEBOOK.PARAM=VALUE`` (VALUE a Python literal) -> {notebook: {PARAM: value}}."""
    overrides: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        notebook, _, param = key.partition(".")
        if not value or not param:
            raise SystemExit(f"--set expects NOTEBOOK.PARAM=VALUE, got {item!r}")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value  # a bare word is a string
        overrides.setdefault(notebook, {})[param] = parsed
    return overrides


def speed_note(profile: str, device: str | None) -> str | None:
    """A warning before a cpu-profile run on a CPU without native bf16: its two hours were
    measured with bf16 training, and float32 here is 3.5-4x slower (README, Profiles)."""
    if profile != "cpu" or pick_device(device or "auto").type != "cpu" or cpu_has_bf16():
        return None
    return (
        "note: this CPU has no native bf16, so training runs in float32, 3.5-4x slower than on "
        "the machine the cpu profile was timed on: expect about 7-8 hours on 2 cores instead of "
        "two (README, Profiles). For a shorter run: --profile smoke, or --only NOTEBOOK."
    )


def default_profile() -> str:
    import torch

    return "full" if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize-suite", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILE_NAMES, help="default: full on CUDA, else cpu")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=", ".join(NOTEBOOKS))
    parser.add_argument("--data-dir", help="folder holding the datasets (sets COLORIZE_DATA)")
    parser.add_argument("--out", type=Path, help="report folder (default reports/<profile>)")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="run folders")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: auto)")
    parser.add_argument("--seed", type=int, help="override every notebook's SEED")
    parser.add_argument("--parallel", type=int, default=1, help="notebooks at once")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue runs from their last checkpoints (finished runs are only re-evaluated)",
    )  # fmt: skip
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NB.PARAM=VALUE",
        help="override notebook parameters, e.g. faces_cnn.EPOCHS=5",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["COLORIZE_DATA"] = str(Path(args.data_dir).resolve())
    profile = args.profile or default_profile()
    _say(f"colorize suite: profile {profile}, reports in {args.out or f'reports/{profile}'}")
    if note := speed_note(profile, args.device):
        _say(note)
    try:
        runs = run_suite(
            profile, only=args.only, out=args.out, results=args.results, device=args.device,
            seed=args.seed, parallel=args.parallel, overrides=_parse_set(args.set),
            resume=args.resume,
        )  # fmt: skip
    except (KeyError, ValueError) as error:  # unknown notebook, missing runs: nothing ran
        parser.error(str(error).strip("'\""))
    except SuiteInterrupted as stopped:  # Ctrl-C: kernels stopped, what ended is recorded
        _say(f"\n{stopped.line()}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # before any notebook started, or while the record was written
        _say("\ninterrupted: the report was not updated")
        return EXIT_INTERRUPTED
    failed = [r for r in runs if not r.ok]
    out = (args.out or ROOT / "reports" / profile).resolve()
    _say(f"\n{len(runs) - len(failed)} of {len(runs)} notebooks ran; report: {out / 'index.html'}")
    for run in failed:
        _say(f"  FAILED {run.name} (cell [{run.cell}]): {run.error}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
