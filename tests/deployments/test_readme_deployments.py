"""README's Deployments section, executed as written, in order, in a terminal.

Every ```bash block of the section (its subsections included) runs in a clean copy of
deployments/ with its own PREFECT_HOME. A block whose first line is `# terminal N, keeps running`
is a process that stays up (the server, the emulator, a worker): it is started in a terminal of
its own (a fresh environment, the repository's root) and left running. Every other block runs in
"the reader's terminal": one shell state (working directory, exported variables) carried from
block to block, each block in a pseudo-terminal, so any question Prefect would ask a person fails
the test instead of being answered for it. The only edits are the ports (free ones instead of
4200 and 8765, which other servers on the machine may hold).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from .processes import BIN, REPO, Background, free_port, healthy, prefect_env, wait_for

pytestmark = pytest.mark.slow

LONG_RUNNING = re.compile(r"^# terminal \d+, keeps running\b", re.IGNORECASE)
# What Prefect (rich) shows when it asks something: a confirmation or a choice to make.
PROMPTS = re.compile(r"\[[yY]/[nN]\]|\(y/n\)|arrow keys|Enter a |\? \[", re.IGNORECASE)
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
BLOCK_TIMEOUT = 180.0


def readme_blocks() -> list[str]:
    """The ```bash blocks of README's Deployments section (up to the next `## ` heading)."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Deployments\n", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


@dataclass
class Shell:
    """The reader's terminal: where they are and what they exported, block after block."""

    cwd: Path
    env: dict[str, str]
    state: Path
    transcript: list[str] = field(default_factory=list)

    def run(self, block: str) -> None:
        """Run `block` with `bash -e` in a pseudo-terminal; fail on a prompt, an error or a hang."""
        script = self.state / "block.sh"
        script.write_text(
            f"{block}\n"
            f"pwd > {shlex.quote(str(self.state / 'cwd'))}\n"
            f"env -0 > {shlex.quote(str(self.state / 'env'))}\n"
        )
        output, status = _in_pty(["bash", "-e", str(script)], cwd=self.cwd, env=self.env)
        self.transcript.append(f"$ {block}\n{output}")
        prompt = PROMPTS.search(output)
        assert prompt is None, f"a prompt ({prompt.group(0)!r}) in:\n$ {block}\n{output[-3000:]}"
        assert status == 0, f"exit status {status}:\n$ {block}\n{output[-3000:]}"
        self.cwd = Path((self.state / "cwd").read_text().strip())
        pairs = (self.state / "env").read_bytes().split(b"\0")
        self.env = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def _in_pty(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[str, int]:
    """Run `args` with a pseudo-terminal as stdin/stdout/stderr: what it printed, its status.

    A question gets no answer: the output is checked for one as it comes, and a command that
    waits for input is killed at the deadline."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal session of its own
        os.chdir(cwd)
        os.execvpe(args[0], args, env)
    chunks: list[bytes] = []
    deadline = time.monotonic() + BLOCK_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal (it exited)
                    break
                if not data:
                    break
                chunks.append(data)
                if PROMPTS.search(_text(chunks)):
                    break  # a question: stop here, the caller reports it
        else:
            chunks.append(b"\n[timed out: waiting for input?]\n")
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return _text(chunks), os.waitstatus_to_exitcode(status)


def _text(chunks: list[bytes]) -> str:
    """Terminal output as text, colours and cursor moves removed."""
    raw = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)


@dataclass
class Ports:
    server: int
    emulator: int

    def apply(self, block: str) -> str:
        return block.replace("4200", str(self.server)).replace("8765", str(self.emulator))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clean copy of what the steps need: the tracked files of deployments/ (no archive, no
    .prefect, nothing a previous run left)."""
    root = tmp_path / "prefect-oxen"
    listed = subprocess.run(
        ["git", "ls-files", "deployments"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "deployments/prefect.yaml" in listed
    for name in listed:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, root / name)
    return root


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Background]]:
    started: list[Background] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def _start(block: str, *, root: Path, env: dict[str, str], log: Path, ports: Ports) -> Background:
    """A long-running block in a terminal of its own, once what it starts answers."""
    script = log.with_suffix(".sh")
    script.write_text(block)
    process = Background(["bash", "-e", str(script)], env=env, log=log, cwd=root)

    def up() -> bool:
        if not process.alive():
            raise AssertionError(f"$ {block}\nexited early:\n{process.output()[-3000:]}")
        if "prefect server start" in block:
            return healthy(f"http://127.0.0.1:{ports.server}/api")
        if "prefect-oxen emulator" in block:
            return httpx.get(f"http://127.0.0.1:{ports.emulator}/api/ai/models").status_code < 500
        if "prefect worker start" in block:
            return "started!" in process.output()
        raise AssertionError(f"a long-running block the test does not know: {block}")

    wait_for(up, timeout=150, what=f"{block.splitlines()[-1]} to be up")
    return process


def test_readme_deployment_steps_run_as_written(
    checkout: Path, terminals: list[Background], tmp_path: Path
) -> None:
    blocks = readme_blocks()
    assert any(LONG_RUNNING.match(b) for b in blocks) and len(blocks) >= 5
    ports = Ports(server=free_port(), emulator=free_port())
    # A person's terminal: their PATH (with this project's tools), a PREFECT_HOME of its own.
    fresh = prefect_env(tmp_path / "home", TERM="xterm-256color")
    fresh["PATH"] = f"{BIN}{os.pathsep}{fresh.get('PATH', '')}"
    fresh.pop("PREFECT_API_URL", None)
    state = tmp_path / "shell"
    state.mkdir()
    shell = Shell(cwd=checkout, env=dict(fresh), state=state)

    for number, written in enumerate(blocks):
        block = ports.apply(written)
        if LONG_RUNNING.match(block):
            env = dict(fresh)
            if "prefect server start" in block:
                env["PREFECT_SERVER_API_PORT"] = str(ports.server)  # README's 4200, moved
            log = tmp_path / f"terminal-{number}.log"
            terminals.append(_start(block, root=checkout, env=env, log=log, ports=ports))
        else:
            shell.run(block)

    api = httpx.Client(base_url=f"http://127.0.0.1:{ports.server}/api", timeout=10)
    transcript = "\n".join(shell.transcript)
    worker_log = "\n".join(t.output()[-2000:] for t in terminals if "worker" in " ".join(t.args))

    # The block points at the emulator the README started, not the real hub.
    block = api.get("/block_types/slug/oxen-credentials/block_documents/name/oxen").json()
    assert block["data"]["base_url"].rstrip("/") == f"http://127.0.0.1:{ports.emulator}"

    # Both run forms' pickers show the block: the deployments reference it by id.
    for name in ("oxen-generate-video/generate-video", "oxen-batch/nightly-batch"):
        deployment = api.get(f"/deployments/name/{name}").raise_for_status().json()
        assert deployment["parameters"]["credentials"] == {
            "$ref": {"block_document_id": block["id"]}
        }, name
        assert "anything" not in json.dumps(deployment["parameters"])  # the key stays in the block

    # The two runs README started finish on the worker.
    def finished() -> list[dict] | None:
        runs = api.post("/flow_runs/filter", json={}).raise_for_status().json()
        manual = [r for r in runs if not r["auto_scheduled"]]  # not the nightly schedule's
        if len(manual) == 2 and all(r["state_type"] in TERMINAL for r in manual):
            return manual
        return None

    runs = wait_for(finished, timeout=300, what=f"the README's runs\n{worker_log}")
    states = {r["name"]: (r["state_type"], r["state"]["message"]) for r in runs}
    assert all(r["state_type"] == "COMPLETED" for r in runs), f"{states}\n{worker_log}"
    archived = sorted(p.stem for p in (checkout / "deployments" / "oxen-archive").rglob("*.mp4"))
    lines = (checkout / "deployments" / "nightly_batch.jsonl").read_text().splitlines()
    nightly = [json.loads(line)["id"] for line in lines]
    assert set(nightly) <= set(archived), archived

    # The automation step ran from where the steps left the reader.
    automations = api.post("/automations/filter", json={}).raise_for_status().json()
    assert [a["name"] for a in automations] == ["oxen-pause-deployment-on-budget-stop"], transcript
