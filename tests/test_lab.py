"""`rethinkkit lab`: the command line it builds (JupyterLab on the checkout's notebooks/, 127.0.0.1,
this interpreter's kernel), the message for root, and JupyterLab as a person meets it: the
quickstart opened in headless chromium, Run > Run All Cells, the prune-ratio slider moved with the
keyboard, and the cfg / params beside it updated by the kernel."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rethinkkit import batch, cli, lab

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


class Exec:
    """Stands in for os.execve: records what would have replaced the process."""

    def __init__(self):
        self.calls = []

    def __call__(self, program, argv, env):
        self.calls.append((program, argv, env))


@pytest.fixture
def execve(monkeypatch):
    record = Exec()
    monkeypatch.setattr(lab.os, "execve", record)
    return record


def test_command_starts_jupyterlab_of_this_interpreter_on_the_notebooks():
    argv = lab.command(Path("/kit/notebooks"), port=9000, browser=False, jupyter_args=["--allow-root", "--debug"])
    assert argv == [sys.executable, "-m", "jupyterlab", "--ServerApp.root_dir=/kit/notebooks",
                    "--ServerApp.ip=127.0.0.1", "--ServerApp.port=9000", "--ServerApp.open_browser=False",
                    "--allow-root", "--debug"]
    assert lab.command(Path("/kit/notebooks")) == [sys.executable, "-m", "jupyterlab",
                                                   "--ServerApp.root_dir=/kit/notebooks", "--ServerApp.ip=127.0.0.1"]


def test_rethinkkit_lab_execs_jupyterlab_on_the_checkouts_notebooks(execve, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # where a kernelspec would be written, were one needed
    assert cli.main(["lab", "--no-browser", "--allow-root", "--port", "8890", "--", "--ServerApp.token=abc"]) == 0
    ((program, argv, env),) = execve.calls
    assert program == sys.executable and argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={ROOT / 'notebooks'}" in argv
    assert "--ServerApp.ip=127.0.0.1" in argv  # this machine only, unless asked
    assert argv[-4:] == ["--ServerApp.port=8890", "--ServerApp.open_browser=False", "--allow-root",
                         "--ServerApp.token=abc"]
    assert str(ROOT / "notebooks") in capsys.readouterr().out
    if "JUPYTER_PATH" in env:  # the server's environment: its python3 kernel is this interpreter
        monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
    assert os.path.abspath(lab.kernel_python()) == os.path.abspath(sys.executable)


def test_root_is_told_what_to_do_before_jupyter_refuses(monkeypatch, execve, capsys):
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0)
    assert cli.main(["lab", "--no-browser"]) == 2
    error = capsys.readouterr().err
    assert "root" in error and "rethinkkit lab --allow-root" in error and "Traceback" not in error
    assert not execve.calls
    assert cli.main(["lab", "--no-browser", "--allow-root"]) == 0 and len(execve.calls) == 1


def test_root_problem():
    assert "--allow-root" in lab.root_problem([], uid=0)
    assert lab.root_problem(["--allow-root"], uid=0) is None
    assert lab.root_problem(["--ServerApp.allow_root=True"], uid=0) is None
    assert lab.root_problem([], uid=1000) is None


def test_a_port_out_of_range_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parser().parse_args(["lab", "--port", "70000"])
    assert stop.value.code == 2 and "port number from 1 to 65535" in capsys.readouterr().err


def test_a_python3_kernel_of_another_interpreter_is_replaced_by_this_ones(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    other = tmp_path / "other" / "kernels" / "python3"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps(
        {"argv": ["/opt/elsewhere/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "other"))
    assert lab.kernel_python() == "/opt/elsewhere/bin/python"  # what JupyterLab would start without the fix

    env, note = lab.kernel_environment()
    assert note and "/opt/elsewhere/bin/python" in note and sys.executable in note
    assert env["JUPYTER_PATH"].split(os.pathsep)[0].startswith(str(tmp_path / "home"))
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
    assert lab.kernel_python() == os.path.abspath(sys.executable)
    assert lab.kernel_environment()[1] is None  # fixed: nothing more to change


def test_outside_a_checkout_the_error_says_where_to_run(monkeypatch):
    import rethinkkit.paths

    monkeypatch.setattr(rethinkkit.paths, "project_root", lambda start=None: None)
    with pytest.raises(lab.LabError, match="inside the checkout"):
        lab.notebooks_folder()


# --- JupyterLab in a real browser ------------------------------------------------------------------

# Generous limits: a busy 2-core machine is slow, and these only stop a hang from lasting forever.
SERVER_START_S = 300
PAGE_LOAD_S = 300
RUN_ALL_S = 900
WIDGET_UPDATE_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(condition, limit_s: float, every_s: float = 0.5):
    """`condition()` every `every_s` until it returns something truthy, at most `limit_s`: its last value."""
    deadline = time.monotonic() + limit_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def wait_for(condition, limit_s: float, what: str, every_s: float = 0.5):
    """`poll`, failing the test with what it waited for when the limit passes."""
    value = poll(condition, limit_s, every_s)
    if not value:
        pytest.fail(f"gave up after {limit_s} s waiting for {what}")
    return value


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (a temporary path only this test's processes use)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass  # ended meanwhile
    return pids


class Server:
    """`rethinkkit lab` started on a temporary checkout, answering its REST API with a token."""

    def __init__(self, checkout: Path, scratch: Path):
        self.port, self.token = free_port(), "rethinkkit-test-token"
        self.runtime = scratch / "runtime"  # connection files: kernels' command lines name this folder
        self.log = scratch / "server.log"
        env = {**os.environ, "RETHINKKIT_STORE": str(scratch / "store"), "RETHINKKIT_QUIET": "1",
               "JUPYTER_RUNTIME_DIR": str(self.runtime),
               "JUPYTERLAB_SETTINGS_DIR": str(scratch / "settings"),  # no user settings or shortcuts
               "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces")}
        root = ["--allow-root"] if os.geteuid() == 0 else []
        quiet = ["--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                 "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                 "--LabApp.extension_manager=readonly"]  # no network, no pop-ups
        command = [sys.executable, "-m", "rethinkkit", "lab", "--no-browser", "--port", str(self.port), *root,
                   "--", *quiet]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def api(self, path: str, method: str = "GET"):
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url(path), method=method), timeout=30) as r:
                return json.loads(r.read() or b"null")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def ready(self):
        if self.process.poll() is not None:
            pytest.fail(f"rethinkkit lab exited with {self.process.returncode}:\n{self.output()}")
        return self.api("/api/status")

    def kernels_idle(self) -> bool:
        kernels = self.api("/api/kernels")
        return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)

    def stop(self) -> None:
        """Shut down as a person would (kernels first), then make sure nothing is left."""
        if self.process.poll() is None:
            self.api("/api/shutdown", method="POST")
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def kernel_prompts(driver) -> list[str]:
    return [e.text.strip() for e in driver.find_elements("css selector", ".jp-CodeCell .jp-InputPrompt")]


def ratio_slider(driver):
    """The ratio FloatSlider's handle and the cell that shows it."""
    from selenium.webdriver.common.by import By

    (slider,) = [s for s in driver.find_elements(By.CSS_SELECTOR, ".widget-slider")
                 if s.find_element(By.CSS_SELECTOR, ".widget-label").text.strip() == "ratio"]
    cell = slider.find_element(By.XPATH, "./ancestor::div[contains(@class, 'jp-Cell')][1]")
    return slider, cell


def architecture_shown(cell) -> str:
    """The text of the live output beside the controls: the dict rk.report.architecture returns."""
    texts = [e.text for e in cell.find_elements("css selector", ".widget-output")]
    return " ".join(" ".join(texts).split())


@pytest.mark.browser
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs Debian's chromium and its driver: apt-get install -y chromium chromium-driver")
def test_quickstart_in_jupyterlab_slider_updates_the_architecture(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    import papermill

    # a temporary checkout (notebooks/ and params/) holding the quickstart with the smoke profile's
    # parameters injected, and 2 epochs (the fewest that keep the lr schedule's drops after the first
    # epoch): the kernel trains on the embedded data on the CPU. notebooks/ is left untouched
    checkout = tmp_path / "checkout"
    for folder in ("params", "notebooks"):
        (checkout / folder).mkdir(parents=True)
    (job,) = batch.plan(["00_quickstart"], "smoke", {"epochs": 2}, output_dir=checkout / "notebooks")
    papermill.execute_notebook(str(job.notebook), str(job.output), parameters=job.parameters,
                               prepare_only=True, progress_bar=False)
    notebook = job.output
    code_cells = sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text())["cells"])

    began = time.monotonic()

    def lap(what):  # where the time goes, shown when the test fails (or with pytest -rP)
        print(f"{time.monotonic() - began:6.1f} s  {what}", flush=True)

    server = Server(checkout, tmp_path)
    driver = None
    try:
        wait_for(server.ready, SERVER_START_S, "JupyterLab to answer")
        lap("server answers")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path / 'chromium'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.get(server.url(f"/lab/tree/{notebook.name}"))

        # the notebook is shown and its kernel (JupyterLab starts the one the notebook names) is idle
        wait_for(lambda: len(kernel_prompts(driver)) == code_cells and server.kernels_idle(), PAGE_LOAD_S,
                 f"{notebook.name} to open with an idle kernel")
        lap("notebook open, kernel idle")

        # Run > Run All Cells, as a person does it
        wait_for(lambda: driver.find_elements(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel')][text()='Run']"),
                 PAGE_LOAD_S, "the Run menu")[0].click()
        wait_for(lambda: driver.find_elements(By.XPATH, "//div[contains(@class, 'lm-Menu-itemLabel')][text()='Run All Cells']"),
                 PAGE_LOAD_S, "Run All Cells in the Run menu")[0].click()
        wait_for(lambda: all(re.fullmatch(r"\[\d+\]:", p) for p in kernel_prompts(driver)) and server.kernels_idle(),
                 RUN_ALL_S, "every cell to run and the kernel to be idle", every_s=2)
        lap("all cells ran")

        # the cells ran without an error: saved (Ctrl+S) and read back from the file
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
        saved = wait_for(lambda: (lambda cells: cells if all(c.get("execution_count") for c in cells) else None)(
            [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]), PAGE_LOAD_S,
            "the executed notebook to be saved")
        errors = [o for c in saved for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, errors
        lap("saved")

        # the prune-ratio slider: focus its handle, one step right with the keyboard
        slider, cell = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".widget-slider") and ratio_slider(driver),
                                PAGE_LOAD_S, "the ratio slider")
        before = wait_for(lambda: architecture_shown(cell), WIDGET_UPDATE_S, "the architecture beside the slider")
        assert "'cfg'" in before and "'params'" in before and "'ratio': 0.5," in before, before
        handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
        ActionChains(driver).click(handle).send_keys(Keys.ARROW_RIGHT).perform()
        after = wait_for(lambda: (lambda text: text if "'ratio': 0.55," in text else None)(architecture_shown(cell)),
                         WIDGET_UPDATE_S, "the architecture to follow the slider to 0.55")
        assert slider.find_element(By.CSS_SELECTOR, ".widget-readout").text.strip() == "0.55"
        params = [int(re.search(r"'params': (\d+)", text).group(1)) for text in (before, after)]
        cfgs = [re.search(r"'cfg': (\[[^\]]*\])", text).group(1) for text in (before, after)]
        assert params[1] < params[0] and cfgs[1] != cfgs[0], (before, after)
        lap("slider moved, architecture updated")
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        # the kernels (their connection files are under tmp_path) and chromium (its profile is) end
        poll(lambda: not processes_mentioning(str(tmp_path)), 120)
        leftovers = processes_mentioning(str(tmp_path))
        for pid in leftovers:  # cleaned up here, then reported below
            os.kill(pid, signal.SIGKILL)
    assert server.process.returncode == 0, server.output()
    assert not leftovers, f"processes left running after the shutdown: {leftovers}"
