"""A real, headless Chromium (Debian's chromium + chromium-driver) driven
through Selenium WebDriver, as the person at the keyboard.

oidc-gen opens the browser itself: `launcher_env()` puts a small `xdg-open`
(what the `open` crate runs on Linux; BROWSER points at it too, as a real
xdg-open would consult it) first on oidc-gen's PATH. It writes the URL to an
inbox file; `Chromium.open_from_launcher()` waits for that file and
navigates the WebDriver session there. So the tests check that oidc-gen
opens the browser, not only that it prints the URL.

The browser reaches loopback only: every other host name resolves to
nothing, so no page can load from outside (and nothing is downloaded).

Environment:
  E2E_HUMAN_PAUSE       seconds a person takes on each provider page (default 2)
  E2E_ARTIFACTS         where page screenshots go (default tests/e2e/artifacts)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from fsevents import wait_for_path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or (HERE / "artifacts")).resolve()
HUMAN_PAUSE = float(os.environ.get("E2E_HUMAN_PAUSE", "2"))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
PAGE_TIMEOUT = 30

# Headless Chromium as root, hermetic: no sandbox (root), no GPU, no QUIC,
# nothing fetched in the background, and no name but loopback resolves.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=900,700",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
]

LAUNCHER = """#!/bin/sh
# xdg-open for the e2e suite: hands the URL to the test's WebDriver session.
tmp="{inbox}.$$"
printf '%s\\n' "$1" > "$tmp" && mv "$tmp" "{inbox}"
"""


def launcher_env(directory: Path) -> tuple[dict[str, str], Path]:
    """Writes the launcher into `directory`; returns the environment for
    oidc-gen and the inbox file the launcher writes the URL to."""
    bindir = directory / "browser-bin"
    bindir.mkdir(parents=True, exist_ok=True)
    inbox = directory / "browser-inbox"
    launcher = bindir / "xdg-open"
    launcher.write_text(LAUNCHER.format(inbox=inbox))
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
        "BROWSER": str(launcher),
        # oidc-gen opens a browser only in a graphical session
        "DISPLAY": ":99",
    }
    return env, inbox


@dataclass
class Rendered:
    """A page as the browser rendered it."""

    url: str
    title: str
    text: str
    screenshot: Path | None


class Chromium:
    def __init__(self, name: str, accept_insecure_certs: bool = False):
        """`accept_insecure_certs`: trust any TLS certificate (the test
        provider's throw-away CA is not in Chromium's store)."""
        self.name = name
        self.profile = Path(tempfile.mkdtemp(prefix="e2e-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        # response headers of each document, from the DevTools network events
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        if accept_insecure_certs:
            options.accept_insecure_certs = True
        self.log_path = self.profile.with_suffix(".chromedriver.log")
        # an explicit driver path: Selenium Manager never downloads anything
        service = Service(executable_path=CHROMEDRIVER, log_output=str(self.log_path))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(PAGE_TIMEOUT)
        self._perf: list[dict] = []
        self.provider_origin: str | None = None  # where oidc-gen sent the browser
        self.shots: list[Path] = []

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.log_path.unlink(missing_ok=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    # -------------------------------------------------------- navigation
    def open_from_launcher(self, inbox: Path, timeout: float = 30) -> str:
        """Waits until oidc-gen has opened the browser (the launcher wrote the
        URL), then loads that URL. Returns it."""
        # The launcher renames the finished file into place: once there, it is whole.
        wait_for_path(inbox, timeout=timeout, what="oidc-gen to open the browser")
        url = inbox.read_text().strip()
        inbox.unlink()
        self.provider_origin = _origin(url)
        self.driver.get(url)
        return url

    def get(self, url: str) -> None:
        self.driver.get(url)

    def _wait(self, timeout: float = PAGE_TIMEOUT) -> WebDriverWait:
        return WebDriverWait(self.driver, timeout)

    def login(self, username: str = "alice", password: str = "any-password", pause: float | None = None,
              deny: bool = False) -> None:
        """Signs in on the provider's login page and answers its consent page
        (Continue, or Cancel when `deny`), each after a person's `pause`."""
        pause = HUMAN_PAUSE if pause is None else pause
        d = self.driver
        self._wait().until(EC.presence_of_element_located((By.NAME, "login")))
        time.sleep(pause)  # a person reading the page and typing
        d.find_element(By.NAME, "login").send_keys(username)
        d.find_element(By.NAME, "password").send_keys(password)
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.consent(deny=deny, pause=pause)

    def consent(self, deny: bool = False, pause: float | None = None) -> None:
        pause = HUMAN_PAUSE if pause is None else pause
        self._wait().until(
            lambda d: self.on_listener() or d.find_elements(By.CSS_SELECTOR, "input[name=prompt][value=consent]")
        )
        if self.on_listener():
            return  # consent remembered: the provider redirected at once
        time.sleep(pause)  # a person reading the consent page
        if deny:
            self.driver.find_element(By.PARTIAL_LINK_TEXT, "Cancel").click()
        else:
            self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def on_listener(self) -> bool:
        """On oidc-gen's loopback listener (a loopback origin other than the
        provider's, which is on loopback too)."""
        url = self.driver.current_url
        return urlsplit(url).hostname in LOOPBACK_HOSTS and _origin(url) != self.provider_origin

    # -------------------------------------------------------- our pages
    def loopback_page(self, shot: str, timeout: float = PAGE_TIMEOUT) -> Rendered:
        """Waits for the browser to land on oidc-gen's listener, then returns
        the rendered page and saves a screenshot named `shot`."""
        self._wait(timeout).until(lambda d: self.on_listener() and d.execute_script(
            "return document.readyState") == "complete")
        return self.rendered(shot)

    def rendered(self, shot: str) -> Rendered:
        d = self.driver
        text = d.find_element(By.TAG_NAME, "body").text
        return Rendered(url=d.current_url, title=d.title, text=text, screenshot=self.screenshot(shot))

    def screenshot(self, shot: str) -> Path | None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{shot}.png"
        try:
            self.driver.save_screenshot(str(path))
        except WebDriverException as e:
            print(f"e2e: screenshot {path} failed: {e}")
            return None
        print(f"e2e: screenshot {path}")
        self.shots.append(path)
        return path

    def loaded_resources(self) -> list[str]:
        """Everything the current page loaded besides itself."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")

    def document(self, url: str) -> dict:
        """The response that delivered the last document loaded from `url`:
        {"headers": {lower-case name: value}, "remote": IP address, "status": int}."""
        for entry in self.driver.get_log("performance"):
            self._perf.append(json.loads(entry["message"])["message"])
        for msg in reversed(self._perf):
            if msg.get("method") != "Network.responseReceived":
                continue
            params = msg["params"]
            resp = params.get("response", {})
            if params.get("type") == "Document" and resp.get("url") == url:
                return {
                    "headers": {k.lower(): v for k, v in resp.get("headers", {}).items()},
                    "remote": resp.get("remoteIPAddress", ""),
                    "status": resp.get("status"),
                }
        raise AssertionError(f"no document from {url} in the browser's network log")


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"
