"""The installed wheel works outside the checkout and writes only where the user points it.

The wheel is built from the working tree (a copy of the files git sees, tracked and untracked but not
ignored: pip builds a local folder in place, which would leave ``build/`` and ``*.egg-info`` in the
checkout) and installed into a fresh virtual environment that sees the pinned dependencies of the
project's environment (a ``deps.pth`` path line: it appends that ``site-packages`` to ``sys.path``
without running the ``__editable__`` ``.pth`` file there, so ``cola_hear`` comes from the wheel).
From an empty working folder, with ``HOME`` and ``TMPDIR`` in the test's temporary folder, the real
hear-validator checks the installed ``cola_hear`` and the installed ``cola-eval`` runs a linear probe
of one mini-suite task. Afterwards the environment (the installed packages), the task folder and the
checkout are as they were, and the results and embedding cache are under the working folder.

A second test installs the same wheel where only the core dependencies are, and a third checks
that the pinned environment satisfies every extra of the wheel (see their docstrings).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support import package_dirs

ROOT = Path(__file__).resolve().parents[2]
TASK = "keyword_spotting-v1.0.0-mini"  # the smallest mini-suite task: 1 s clips

pytestmark = pytest.mark.slow


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime in ns) of every file, folder and link under ``folder``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            out[path.relative_to(folder).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def _checkout_state() -> tuple[str, list[str]]:
    """``git status --porcelain`` of the checkout (untracked files one by one) and its top-level entries
    (which also shows ignored ones such as ``build/``, ``*.egg-info`` or ``results/``)."""
    status = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    return status, sorted(p.name for p in ROOT.iterdir())


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{command} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _copy_working_tree(dest: Path) -> None:
    """The files git sees in the checkout (tracked, and untracked but not ignored), as they are now."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=120,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _environment(tmp_path: Path) -> dict[str, str]:
    """A clean environment with ``HOME``, ``TMPDIR`` and an empty ``work`` folder under ``tmp_path``."""
    home, tmp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for folder in (home, tmp, work):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONNOUSERSITE="1")
    return env


PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the working tree."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    env = _environment(tmp_path)
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    checkout_before = _checkout_state()
    _copy_working_tree(src)
    _run([*PIP, "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)], src, env)
    assert _checkout_state() == checkout_before, "building the wheel changed the checkout"
    (built,) = wheels.glob("cola_hear-*.whl")
    return built


def test_the_wheel_installs_only_packages_with_the_project_prefix(wheel: Path) -> None:
    """Every top-level name the wheel installs carries the prefix (``eval``, ``pretrain``, ``suite`` would
    collide with other projects' packages), and the package folders of the checkout all come along."""
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops and all(t.startswith("cola_") for t in tops), sorted(tops)
    assert {"cola_hear", "cola_common", "cola_pretrain", "cola_eval", "cola_suite"} <= tops
    assert "cola_pretrain/configs/default.toml" in names and "cola_hear/assets/default.safetensors" in names
    assert "cola_eval/models/baselines/logmel_stats.py" in names and "cola_suite/pools/make.py" in names


def _fresh_venv(tmp_path: Path, work: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """A new virtual environment without pip under ``tmp_path``: its folder, python and site-packages."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work, env).strip()
    )
    return venv, python, site


def test_the_installed_wheel_validates_and_probes_from_anywhere(mini_suite: Path, wheel: Path, tmp_path: Path) -> None:
    assert (mini_suite / TASK).is_dir(), sorted(p.name for p in mini_suite.iterdir())
    checkout_before = _checkout_state()
    env = _environment(tmp_path)
    work = tmp_path / "work"

    # a fresh environment: the project's pinned dependencies on its path, the project from the wheel only
    venv, python, site = _fresh_venv(tmp_path, work, env)
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "deps.pth").write_text("".join(f"{p}\n" for p in deps))
    _run([*PIP, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], work, env)
    where = json.loads(_run([str(python), "-c", (
        "import json, sys, cola_hear, cola_common, cola_eval, cola_pretrain, cola_suite as s; "
        "print(json.dumps({'modules': [m.__file__ for m in (cola_hear, cola_common, cola_eval, cola_pretrain, s)],"
        " 'path': sys.path}))"
    )], work, env))  # fmt: skip
    for file in where["modules"]:
        assert Path(file).is_relative_to(site), where["modules"]
    assert str(ROOT) not in where["path"], where["path"]

    installed_before = _listing(venv)
    task_before = _listing(mini_suite / TASK)

    # the real validator on the installed module, and the installed cola-eval
    out = _run([str(python), "-m", "hearvalidator.validate", "cola_hear"], work, env)
    assert "Looks good!" in out, out[-3000:]
    cola_eval = venv / "bin" / "cola-eval"
    probe = [str(cola_eval), "probe", "--module", "cola_hear", "--tasks-dir", str(mini_suite), "--task", TASK]
    _run([*probe, "--seeds", "1"], work, env)

    # what it wrote: results and the embedding cache under the working folder, nothing anywhere else
    assert sorted(p.name for p in work.iterdir()) == ["results", "runs"]
    with (work / "results" / "linear_probe.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["task"] == TASK]
    assert rows and {r["model"] for r in rows} == {"cola_hear"} and {r["seed"] for r in rows} == {"0"}, rows
    assert sorted(p.name for p in (work / "runs" / "eval" / "cache" / "cola_hear" / TASK).glob("*/*.npz"))
    assert _listing(venv) == installed_before, "the run wrote into the installed environment"
    assert _listing(mini_suite / TASK) == task_before, "the run wrote into the task folder"
    # (someone editing the checkout while this test runs changes its state as well)
    status, entries = _checkout_state()
    changed = sorted(set(status.splitlines()) ^ set(checkout_before[0].splitlines()))
    new_entries = sorted(set(entries) ^ set(checkout_before[1]))
    assert not changed and not new_entries, f"the checkout changed: git status {changed}, top level {new_entries}"


# What the core install must not bring: the extras' packages (cola_hear imports none of them).
NOT_CORE = ("pandas", "sklearn", "matplotlib", "music21", "tensorboard", "pyarrow")


def _closure(requirements: list[Requirement]) -> dict[str, Distribution]:
    """The installed distributions (of this environment) that ``requirements`` need, transitively,
    with the extras a requirement asks for (``cuda-toolkit[cublas,...]``) and markers evaluated."""
    found: dict[str, Distribution] = {}
    todo = [(r, "") for r in requirements]
    seen: set[tuple[str, str]] = set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        for wanted in ["", *sorted(requirement.extras)]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            try:
                found[name] = dist = distribution(name)
            except PackageNotFoundError:
                raise AssertionError(f"{requirement} is not installed in {sys.prefix}") from None
            todo += [(Requirement(line), wanted) for line in dist.requires or []]
    return found


def _expose(dists: list[Distribution], site: Path) -> None:
    """Link each top-level entry (packages, modules, ``.dist-info``, ``.pth``) of ``dists`` into ``site``."""
    for dist in dists:
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            if not (site / top).exists():
                (site / top).symlink_to(Path(dist.locate_file(top)))


def _core_requirements(wheel: Path, python: Path, work: Path, env: dict[str, str]) -> list[Requirement]:
    """The wheel's own ``Requires-Dist`` lines without an extra marker (read with the venv's Python)."""
    text = _run([str(python), "-c", (
        "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
        "print(next(z.read(n).decode() for n in z.namelist() if n.endswith('.dist-info/METADATA')))"
    ), str(wheel)], work, env)  # fmt: skip
    lines = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]
    return [r for r in map(Requirement, lines) if not (r.marker and "extra" in str(r.marker))]


def test_the_wheel_validates_with_only_its_core_dependencies(wheel: Path, tmp_path: Path) -> None:
    """``pip install cola-hear`` with no extra gives a HEAR module that the real validator passes.

    No download: the fresh venv's ``site-packages`` links the installed distributions of the
    project's environment that the wheel's core requirements need (their transitive closure,
    read from their metadata), and nothing else: no pandas, scikit-learn, matplotlib, music21,
    tensorboard or pyarrow. A ``.pth`` line would expose all of ``.venv``; a uv install from its
    cache would copy gigabytes and depend on that cache. hearvalidator needs more than the core: it
    imports ``torch`` and ``tensorflow`` at module level, so it is linked too (without its declared
    pins, as the bootstrap installs it) with ``tensorflow-cpu``'s closure, which holds none of the
    packages above. pip then installs the wheel *with* dependency resolution and ``--no-index``: it
    succeeds only if every core range is satisfied by what is linked, and it can install nothing
    else (so it never replaces, through a link, a file of the project's environment).
    """
    env = _environment(tmp_path)
    work = tmp_path / "work"
    _, python, site = _fresh_venv(tmp_path, work, env)

    core = _core_requirements(wheel, python, work, env)
    assert {canonicalize_name(r.name) for r in core} == {
        "torch", "torchaudio", "timm", "safetensors", "numpy",
    }, core  # fmt: skip
    dists = _closure([*core, Requirement("tensorflow-cpu")])
    _expose([*dists.values(), distribution("hearvalidator")], site)
    _run([*PIP, "--python", str(python), "install", "--no-index", "-q", str(wheel)], work, env)

    absent = json.loads(_run([str(python), "-c", (
        "import importlib.util, json, sys; "
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))"
    ), *NOT_CORE], work, env))  # fmt: skip
    assert absent == list(NOT_CORE), f"the core environment exposes {sorted(set(NOT_CORE) - set(absent))}"
    where = _run([str(python), "-c", "import cola_hear; print(cola_hear.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(site) and not Path(where).is_symlink(), where

    out = _run([str(python), "-m", "hearvalidator.validate", "cola_hear"], work, env)
    assert "Looks good!" in out, out[-3000:]


def test_the_pinned_environment_satisfies_every_extra_of_the_wheel(wheel: Path, tmp_path: Path) -> None:
    """``pip install 'cola-hear[all,dev]'`` resolves, offline, to the pins the bootstrap installed.

    A fresh venv sees the project's environment through a ``deps.pth`` path line (as the first test);
    pip's dry run with ``--no-index`` can find nothing new, so it succeeds only if every range of
    the core and of the extras (the self-referential ``[all]`` included) holds for an installed pin.
    """
    env = _environment(tmp_path)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = _run(
        [*PIP, "--python", str(python), "install", "--dry-run", "--no-index", f"{wheel}[all,dev]"], tmp_path, env
    )
    assert out.strip().splitlines()[-1] == f"Would install cola-hear-{wheel.name.split('-')[1]}", out[-2000:]


def test_an_editable_install_maps_the_installed_names_onto_the_folders(tmp_path: Path) -> None:
    """``pip install -e .`` (what the bootstrap runs) makes ``cola_eval`` & co. importable from anywhere, loaded
    from the checkout's folders (``eval/``, ...), and the commands run; a folder name stays unimportable."""
    env = _environment(tmp_path)
    work = tmp_path / "work"
    src = tmp_path / "src"
    _copy_working_tree(src)
    venv, python, site = _fresh_venv(tmp_path, work, env)
    (site / "deps.pth").write_text(
        "".join(f"{p}\n" for p in dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    )
    _run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-build-isolation", "-q", "-e", str(src)], work, env
    )
    names = sorted(package_dirs())
    where = json.loads(_run([str(python), "-c", (
        "import importlib, importlib.util, json, sys; "
        "print(json.dumps({'files': {n: importlib.import_module(n).__file__ for n in sys.argv[1:]}, "
        "'eval': importlib.util.find_spec('eval') is not None}))"
    ), *names], work, env))  # fmt: skip
    folders = package_dirs()
    for name in names:
        assert Path(where["files"][name]) == src / folders[name] / "__init__.py", where
    assert not where["eval"], "the folder name eval is importable outside the checkout"
    assert "cola-eval" in _run([str(venv / "bin" / "cola-eval"), "--help"], work, env)
    assert "usage" in _run([str(python), "-m", "cola_pretrain", "--help"], work, env)
