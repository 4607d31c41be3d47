"""The Dockerfile, read: the base, the runtime requirements, Chart.js vendored and collectstatic at
build, a non-root user, the one entrypoint; and what never goes into the image or the repository."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pytest

from devtools import vendor_static

from .conftest import ENTRYPOINT, ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
RUNTIME_FILTER = "sed '/^# Tests and lint/,$d' requirements.txt"


def instructions(dockerfile: str = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def runs(self, command: str) -> int | None:
        """The index of the first RUN whose command contains `command`."""
        return next((i for i, (op, args) in enumerate(self.steps) if op == "RUN" and command in args), None)


def stages(dockerfile: str = DOCKERFILE) -> list[Stage]:
    found: list[Stage] = []
    for instruction, arguments in instructions(dockerfile):
        if instruction == "FROM":
            base, name = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arguments, re.I).group(1, 2)
            found.append(Stage(base, name))
        else:
            found[-1].steps.append((instruction, arguments))
    return found


def test_it_builds_on_slim_python_3_11_and_runs_as_a_user():
    steps = stages()[-1].steps
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", stages()[-1].base)
    users = [arguments for instruction, arguments in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["deploy/entrypoint.sh"]') in steps and ("CMD", '["web"]') in steps


def test_it_installs_the_pinned_runtime_requirements_only():
    assert RUNTIME_FILTER in DOCKERFILE
    runtime = subprocess.run(
        ["bash", "-c", RUNTIME_FILTER], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
    ).stdout
    names = {re.split(r"[=\[]", line)[0].lower() for line in runtime.splitlines() if line and not line.startswith("#")}
    assert {"django", "gunicorn", "whitenoise", "celery", "psycopg"} <= names
    assert not names & {"pytest", "playwright", "ruff", "check-jsonschema"}
    assert all("==" in line for line in runtime.splitlines() if line and not line.startswith("#"))


def test_it_collects_static_files_at_build_as_the_suite_does():
    from .test_web import COLLECTSTATIC

    assert "python " + " ".join(COLLECTSTATIC[1:]) in re.sub(r"\\\n\s*", " ", DOCKERFILE)


def vendoring_problems(dockerfile: str) -> list[str]:
    """Why the image would lack the overview's Chart.js, or get one not vendored as `./dev up` does."""
    built = stages(dockerfile)
    final = built[-1]
    names = {stage.name: stage for stage in built if stage.name}
    vendored = vendor_static.TARGET.parent.relative_to(ROOT).as_posix()
    vendors = [s for s in built[:-1] if s.runs("python devtools/vendor_static.py") is not None]
    if not vendors:
        return ["no build stage runs devtools/vendor_static.py (the pinned version and its sha512 check)"]
    stage = vendors[0]
    problems = []
    if ("COPY", "devtools/vendor_static.py devtools/") not in stage.steps:
        problems.append(f"stage {stage.name} does not copy devtools/vendor_static.py itself")
    # npm (and the node running it) from an official node image: the stage's base or copied from one.
    node_from = {stage.base} | {names[n].base for n in re.findall(r"--from=(\S+)", str(stage.steps)) if n in names}
    if not any(re.fullmatch(r"node:\d+[\w.-]*", base) for base in node_from):
        problems.append(f"stage {stage.name} has no node image to take npm from")
    workdir = next((args for op, args in stage.steps if op == "WORKDIR"), "/")
    source = str(PurePosixPath(workdir) / vendored)
    copy = rf"--from={stage.name}\s+{re.escape(source)}/?\s+{re.escape(vendored)}/?"
    copies = [i for i, (op, args) in enumerate(final.steps) if op == "COPY" and re.fullmatch(copy, args)]
    collect = final.runs("collectstatic")
    if not copies:
        problems.append(f"the final stage does not COPY --from={stage.name} {source}/ {vendored}/")
    elif collect is None or copies[0] > collect:
        problems.append("Chart.js is copied after collectstatic: the image would serve no chart.umd.min.js")
    elif ("COPY", ". .") in final.steps[copies[0] :]:
        problems.append("COPY . . after the vendored files")
    return problems


def test_the_image_vendors_chart_js_before_collectstatic():
    assert vendoring_problems(DOCKERFILE) == []
    # The host's copy (ignored by git) never stands in for the one the build verified.
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert vendor_static.TARGET.parent.relative_to(ROOT).as_posix() in ignored


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda text: text.replace("RUN python devtools/vendor_static.py", "RUN true"), "no build stage runs"),
        (lambda text: re.sub(r"COPY --from=vendor .*\n", "", text), "does not COPY --from=vendor"),
        (lambda text: re.sub(r"COPY --from=node .*\n", "", text), "no node image"),
        (
            lambda text: re.sub(
                r"(COPY --from=vendor .*\n)((?:.*\n)*?RUN SECRET_KEY[^\n]*\n(?:\s+.*\n)*)", r"\2\1", text
            ),
            "after collectstatic",
        ),
    ],
)
def test_a_missing_vendoring_step_is_caught(change, problem):
    broken = change(DOCKERFILE)
    assert broken != DOCKERFILE
    assert any(problem in found for found in vendoring_problems(broken)), vendoring_problems(broken)


def test_the_entrypoint_is_executable_and_names_its_commands():
    assert ENTRYPOINT.stat().st_mode & 0o111
    usage = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 2
    assert all(command in usage.stderr for command in ("web", "worker", "beat", "init"))


def test_secrets_and_local_state_stay_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", "var", ".git", "kafka/libs", "kafka/agent"} <= set(ignored)
    assert "!.env.example" in ignored
