"""The project's packaging: dependency lists in step, layout as the README says."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _env_specs(env: dict) -> list[str]:
    """Conda entries and the pip entries of environment.yml (the editable install left out)."""
    specs = []
    for d in env["dependencies"]:
        if isinstance(d, str):
            specs.append(d)
        elif isinstance(d, dict):
            specs += [s for s in d.get("pip", []) if not s.startswith("-")]
    return specs


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(d) for d in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in _env_specs(env)} - {"python", "pip"}
    assert conda == wanted, (
        f"only in pyproject.toml: {sorted(wanted - conda)}; only in environment.yml: {sorted(conda - wanted)}")


def test_version_bounds_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d): d.replace(" ", "") for d in _env_specs(env)}
    for spec in specs:
        assert conda[_name(spec)] == spec.replace(" ", ""), f"{spec} differs in environment.yml"


def test_layout_of_the_design_card_exists():
    for path in ["notebooks", "data/sample", "belonging_lib", "environment.yml", "tests", "README.md",
                 "pyproject.toml", "Makefile", ".ci/run", "bench"]:
        assert (ROOT / path).exists(), path


def test_ci_runs_the_linters_then_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))]
    assert commands == ["make lint", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in lint and "ruff format --check" in lint and "mypy" in lint
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make notebooks" in readme


def test_base_modules_import_nothing_from_the_rest_of_the_package():
    """Dependencies point one way: the base imports no other module of ours."""
    base = ["_errors.py", "_validation.py", "_results.py"]
    allowed = {"_errors", "_validation", "_results"}
    for name in base:
        text = (ROOT / "belonging_lib" / name).read_text()
        imported = set(re.findall(r"from \.(\w+) import", text))
        assert imported <= allowed, f"{name} imports {imported - allowed}"


def test_estimators_never_import_the_simulator_or_presentation():
    pkg = ROOT / "belonging_lib"
    forbidden = re.compile(r"(from \.+(simulate|cli|book|report) import|import belonging_lib\.(simulate|cli|book|report)"
                           r"|from belonging_lib(\.\w+)*\.(simulate|cli|book|report) import)")
    estimators = ["scoring.py", "reliability.py", "_factor.py", "survey.py", "trials.py", "structure.py"]
    paths = [pkg / e for e in estimators if (pkg / e).exists()]
    paths += list((pkg / "models").glob("*.py")) + list((pkg / "structure").glob("*.py")) + list((pkg / "trials").glob("*.py"))
    paths += list((pkg / "survey").glob("*.py")) + [pkg / "imputation.py", pkg / "_pooling.py"]
    assert paths
    for p in paths:
        assert not forbidden.search(p.read_text()), f"{p.name} imports the simulator or a presentation module"
