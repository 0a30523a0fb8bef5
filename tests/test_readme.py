"""The rendered README works as written, in every valid variant: each `make` command it shows is
a target of the rendered Makefile that uses the variables the command passes, each Makefile
target with a description appears in the README, and each `python -m app....` module it runs
exists. (That a disabled feature leaves no README section is checked by test_render.py.)
"""

from __future__ import annotations

from pathlib import Path

from tests.documented import Makefile, make_commands, module_exists, python_modules


def readme_and_makefile(project: Path) -> tuple[str, Makefile]:
    return (project / "README.md").read_text(), Makefile.parse((project / "Makefile").read_text())


def test_every_make_command_is_a_target_that_takes_its_variables(rendered: Path) -> None:
    readme, makefile = readme_and_makefile(rendered)
    commands = make_commands(readme)
    assert commands, "the README shows no make command"
    problems = []
    for command in commands:
        missing = [target for target in command.targets if target not in makefile.targets]
        if missing:
            problems.append(f"`{command.text}`: no target {', '.join(missing)}")
            continue
        used = set().union(*(makefile.variables(target) for target in command.targets))
        ignored = [name for name in command.variables if name not in used]
        if ignored:
            problems.append(f"`{command.text}`: the target ignores {', '.join(ignored)}")
    assert not problems, "\n".join(problems)


def test_every_described_target_is_in_the_readme(rendered: Path) -> None:
    readme, makefile = readme_and_makefile(rendered)
    shown = {target for command in make_commands(readme) for target in command.targets}
    assert sorted(makefile.described - shown) == []


def test_every_python_module_it_runs_exists(rendered: Path) -> None:
    readme = (rendered / "README.md").read_text()
    assert sorted(m for m in python_modules(readme) if not module_exists(rendered, m)) == []
