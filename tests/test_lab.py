"""`make lab`: JupyterLab opens the MyST chapters as notebooks, with the repository's config.

The test starts a Jupyter server the way ``make lab`` starts JupyterLab
(``JUPYTER_CONFIG_DIR=jupyter-config``, the collection's ``notebooks/`` as the
root), on 127.0.0.1 with a free port and a token, fetches a chapter through
the contents API and reads JupyterLab's settings, then stops the server.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server")
pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "jupyter-config"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(CONFIG), HOME=str(home),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
           "--ServerApp.port_retries=0"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("the Jupyter server did not start:\n" + (home / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode is not None


def _get(base, token, path):
    req = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_a_chapter_comes_back_as_a_notebook_with_code_cells(server):
    base, token = server
    chapter = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.md"))[2]
    model = _get(base, token, f"/api/contents/{chapter}?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert len(code) >= 3 and any("belonging_lib" in c["source"] for c in code)
    assert any("parameters" in c["metadata"].get("tags", []) for c in code)


def test_markdown_chapters_open_with_jupytext_by_default(server):
    base, token = server
    settings = _get(base, token, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    # the repository's labconfig/default_setting_overrides.json changes the schema's default
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("markdown") == "Jupytext Notebook"
    assert viewers.get("myst") == "Jupytext Notebook"
