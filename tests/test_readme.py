"""Every Python snippet of the README runs as written, in an empty directory.

A snippet may be preceded by an HTML comment (invisible on GitHub) that tells this test how:

    <!-- readme-test: continues -->               run after the snippet above, in one process
    <!-- readme-test: sink URL [URL ...] -->     those base URLs are the test's HTTP sink
    <!-- readme-test: remote URL -->              that base URL is a paginated workflows API
                                                  (tests/sync/remote.py) holding three workflows
                                                  of customer "acme"
    <!-- readme-test: env NAME=value ... -->      environment variables the snippet reads
    <!-- readme-test: skip REASON -->             not run, for the reason given

Directives are separated by `;` in one comment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.http_sink import Sink, sink_fixture  # noqa: F401  (the fixture is named "sink")
from tests.sync.remote import Remote

README = Path(__file__).parent.parent / "README.md"
_BLOCK = re.compile(
    r"(?:<!--\s*readme-test:(?P<directives>.*?)-->\s*\n)?```python\n(?P<code>.*?)```", re.DOTALL
)


@dataclass
class Snippet:
    line: int
    code: str
    continues: bool = False
    sink_urls: list[str] = field(default_factory=list)
    remote_urls: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    skip: str | None = None


def snippets(text: str) -> list[Snippet]:
    found = []
    for match in _BLOCK.finditer(text):
        snippet = Snippet(text.count("\n", 0, match.start("code")) + 1, match.group("code"))
        for directive in (match.group("directives") or "").split(";"):
            word, _, rest = directive.strip().partition(" ")
            if word == "continues":
                snippet.continues = True
            elif word == "sink":
                snippet.sink_urls = rest.split()
            elif word == "remote":
                snippet.remote_urls = rest.split()
            elif word == "env":
                snippet.env = dict(pair.split("=", 1) for pair in rest.split())
            elif word == "skip":
                snippet.skip = rest.strip() or "no reason given"
            elif word:
                raise AssertionError(f"README.md: unknown readme-test directive {word!r}")
        found.append(snippet)
    return found


def programs(text: str) -> list[list[Snippet]]:
    """Snippets grouped into the programs they form (a `continues` one joins the one above)."""
    groups: list[list[Snippet]] = []
    for snippet in snippets(text):
        if snippet.continues and groups:
            groups[-1].append(snippet)
        else:
            groups.append([snippet])
    return groups


PROGRAMS = programs(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_snippets() -> None:
    assert sum(len(group) for group in PROGRAMS) >= 3


@pytest.mark.parametrize(
    "program", PROGRAMS, ids=[f"README.md:{group[0].line}" for group in PROGRAMS]
)
def test_snippet_runs_verbatim(program: list[Snippet], tmp_path: Path, sink: Sink) -> None:
    skips = [s.skip for s in program if s.skip]
    if skips:
        pytest.skip(skips[0])
    code = "\n".join(snippet.code for snippet in program)
    remote = Remote().start()
    for i in range(3):
        remote.put("acme", f"wf-{i}", tasks=[{"id": f"task-{i}"}])
    for snippet in program:
        for url in snippet.sink_urls:
            code = code.replace(url, sink.url)
        for url in snippet.remote_urls:
            code = code.replace(url, remote.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    for snippet in program:
        env.update(snippet.env)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        remote.stop()
    assert result.returncode == 0, f"README.md:{program[0].line}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    if "# succeeded" in code:  # the first snippet says what it prints
        assert result.stdout.splitlines()[0] == "succeeded"
    if any(snippet.sink_urls for snippet in program):
        assert sink.requests, "the snippet never called the sink"
    if any(snippet.remote_urls for snippet in program):
        assert remote.hits, "the snippet never called the remote"
