"""The documentation: the site builds with every link and anchor found, the README stays a
front door, and no page or script names the team's own machines (issue 19)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

# Paths and tools of the machines affectlens is developed on, which mean nothing to a reader.
TEAM_MACHINE = re.compile(r"/work/|\bduplicates --change\b")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` (as .ci/run runs it): a broken link, a missing anchor or a
    page left out of the navigation fails the build."""
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mkdocs-material is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    # The README, the model cards and the training notes are on the site too, linked.
    falls = (tmp_path / "falls" / "index.html").read_text()
    assert 'href="../cards/affectlens_falls/' in falls
    assert (tmp_path / "overview" / "index.html").is_file()
    assert (tmp_path / "training" / "index.html").is_file()


def test_the_readme_is_a_front_door() -> None:
    assert len((REPO_ROOT / "README.md").read_bytes()) <= 10 * 1024


def _documents_and_scripts() -> list[Path]:
    found = [REPO_ROOT / "README.md", REPO_ROOT / "mkdocs.yml", REPO_ROOT / ".ci" / "run"]
    for folder, patterns in (("docs", ["*.md"]), ("affectlens", ["*.md", "*.py"]),
                             ("training", ["*.md", "*.py", "*.sh", "*.log"]), ("tools", ["*.py"]),
                             ("benchmarks", ["*.py", "*.md"])):
        for pattern in patterns:
            found += (REPO_ROOT / folder).rglob(pattern)
    return found


def test_no_page_or_script_names_the_teams_own_machines() -> None:
    named = [f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
             for path in _documents_and_scripts()
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if TEAM_MACHINE.search(line)]
    assert named == []


def test_the_cli_reference_is_the_programs_own() -> None:
    """docs/cli.md is made from the typer app; a changed option or default makes it stale."""
    from affectlens import cli_reference
    from affectlens.cli import COMMANDS

    made = cli_reference.markdown()
    for name in COMMANDS:  # every command, the lazily imported ones included
        assert f"## `affectlens {name}`" in made
    serve = next(c for c in cli_reference.commands() if c.path == ("serve",))
    assert any(what == "--check" for what, _ in serve.params)
    documented = (REPO_ROOT / "docs" / "cli.md").read_text()
    assert documented == made, ("docs/cli.md is stale: "
                                "python -m affectlens.cli_reference > docs/cli.md")


def test_the_api_reference_is_the_apps_own() -> None:
    """docs/api.md is made from the app's OpenAPI document and the access table; a changed
    route, field, limit or role makes it stale."""
    from affectlens import api_reference

    made = api_reference.markdown()
    document = api_reference.openapi()
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### {method.upper()} `{path}`" in made
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in made
    health = made.split("### GET `/api/health`", 1)[1].split("###", 1)[0]
    assert "anyone, without a login" in health
    documented = (REPO_ROOT / "docs" / "api.md").read_text()
    assert documented == made, ("docs/api.md is stale: "
                                "python -m affectlens.api_reference > docs/api.md")


def test_every_page_named_in_help_texts_and_pages_exists() -> None:
    """Help texts and pages send readers to `docs/<page>.md`; a renamed or moved page must
    not leave them pointing at nothing."""
    named = {(path.relative_to(REPO_ROOT).as_posix(), page)
             for path in _documents_and_scripts()
             for page in re.findall(r"\bdocs/([\w-]+\.md)", path.read_text())}
    missing = sorted(f"{where}: docs/{page}" for where, page in named
                     if not (REPO_ROOT / "docs" / page).is_file())
    assert missing == []


def _site_configs() -> list[tuple[str, str]]:
    """(where, text) of every YAML example in the README and docs/ that is a site config."""
    found = []
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"^```yaml\n(.*?)^```", path.read_text(), re.MULTILINE | re.DOTALL)
        for number, text in enumerate(blocks, 1):
            data = yaml.safe_load(text)
            if isinstance(data, dict) and "cameras" in data:
                found.append((f"{path.relative_to(REPO_ROOT)} example {number}", text))
    return found


def test_every_site_config_example_is_accepted(tmp_path: Path) -> None:
    """The README's and the guides' site.yaml examples are read as `serve` reads them: a
    renamed or tightened setting must not leave a reader with an example that fails."""
    from affectlens.service.site import SiteConfigError, load_site

    examples = _site_configs()
    where = {name.split(" example")[0] for name, _ in examples}
    assert {"README.md", "docs/deployment.md", "docs/serving.md", "docs/falls.md"} <= where
    refused = []
    for name, text in examples:
        site = tmp_path / "site.yaml"
        site.write_text(text)
        for name_of_file in (yaml.safe_load(text).get("tls") or {}).values():
            (tmp_path / name_of_file).touch()  # present; serve --check reads them as PEM
        try:
            load_site(site, environ={})
        except SiteConfigError as error:
            refused.append(f"{name}: {error}")
    assert refused == []


def test_the_guides_systemd_unit_is_valid(tmp_path: Path) -> None:
    """The deployment guide's unit, as systemd reads it: no unknown key or unreadable value
    (systemd only warns of those, and would run without the restart policy)."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed")
    guide = (REPO_ROOT / "docs" / "deployment.md").read_text()
    units = [b for b in re.findall(r"^```ini\n(.*?)^```", guide, re.MULTILINE | re.DOTALL)
             if "[Service]" in b]
    assert len(units) == 1
    unit = units[0]
    for line in ("Restart=on-failure", "RestartPreventExitStatus=2", "User=affectlens"):
        assert line in unit.splitlines()
    # The guide's install path, here the affectlens of this environment (it must exist).
    command = str(Path(sys.executable).with_name("affectlens"))
    path = tmp_path / "affectlens.service"
    path.write_text(unit.replace("/opt/affectlens/venv/bin/affectlens", command))
    done = subprocess.run([verify, "verify", str(path)], capture_output=True, text=True,
                          timeout=60)
    complaints = [line for line in done.stderr.splitlines()
                  if "affectlens.service" in line or "ignoring" in line]
    assert done.returncode == 0 and complaints == [], done.stderr


def test_the_analysis_settings_reference_is_the_models_own() -> None:
    """docs/analysis-config.md is made from AnalysisConfig; a changed default, range or
    description makes it stale."""
    from affectlens import config_reference
    from affectlens.config import AnalysisConfig

    made = config_reference.markdown()
    for name in AnalysisConfig.model_fields:
        assert f"| `{name}" in made  # each field, or its nested settings
    documented = (REPO_ROOT / "docs" / "analysis-config.md").read_text()
    assert documented == made, ("docs/analysis-config.md is stale: "
                                "python -m affectlens.config_reference > docs/analysis-config.md")
