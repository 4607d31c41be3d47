"""The entrypoint's web command: gunicorn with DEBUG off, static files through WhiteNoise,
against the local stack, logged into with a real Chromium."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

from .conftest import ADMIN_PASSWORD, ADMIN_USER, ROOT, base_environment, entrypoint, free_port

# The Dockerfile's build step, run here the same way (tests/deploy/test_image.py holds them equal).
COLLECTSTATIC = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    env = base_environment(SECRET_KEY="collectstatic-only", STATIC_ROOT=str(root))
    done = subprocess.run(COLLECTSTATIC, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def web(start, initialized, static_root):
    """gunicorn from the entrypoint, serving the initialized database; its base URL."""
    port = free_port()
    env = base_environment(
        DATABASE_URL=initialized[0],
        STATIC_ROOT=str(static_root),
        WEB_BIND=f"127.0.0.1:{port}",
        ALLOWED_HOSTS="localhost",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="2",
    )
    server = start("web", "web", env=env)
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/admin/login/", timeout=5)
            break
        except OSError:  # refused, reset or timed out while it starts
            assert server.process.poll() is None, f"gunicorn exited:\n{server.output()}"
            assert time.monotonic() < deadline, f"gunicorn did not answer in 60 s:\n{server.output()}"
            time.sleep(0.3)
    assert "gunicorn" in server.output().lower()  # gunicorn answers, not Django's development server
    return url


def get(url: str, **headers: str):
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)


def test_it_serves_the_login_page_and_static_files_with_debug_off(web):
    assert get(f"{web}/admin/login/").status == 200
    css = get(f"{web}/static/admin/css/base.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    # WhiteNoise, not Django's debug view: the compressed copy collectstatic made is served.
    assert get(f"{web}/static/admin/css/base.css", **{"Accept-Encoding": "gzip"}).headers["Content-Encoding"] == "gzip"
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(f"{web}/no-such-page/")
    assert missing.value.code == 404 and b"DEBUG = True" not in missing.value.read()


def test_an_operator_logs_in_through_gunicorn_with_the_admin_styled(web):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            stylesheets = []
            page.on("response", lambda r: r.url.endswith(".css") and stylesheets.append((r.url, r.status)))
            page.goto(f"{web}/admin/login/")
            page.fill("#id_username", ADMIN_USER)
            page.fill("#id_password", ADMIN_PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#user-tools", timeout=20_000)
            header_colour = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
        finally:
            browser.close()
    assert any(url.endswith("/static/admin/css/base.css") and status == 200 for url, status in stylesheets)
    assert {status for _, status in stylesheets} == {200}, stylesheets
    # base.css paints the header; unstyled it would be transparent.
    assert header_colour not in ("rgba(0, 0, 0, 0)", "transparent"), header_colour


def test_web_refuses_to_start_without_a_secret_key(initialized):
    env = base_environment(DATABASE_URL=initialized[0])
    del env["SECRET_KEY"]
    refused = entrypoint("web", env=env, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: SECRET_KEY is required when DEBUG is off"


def test_gunicorn_itself_refuses_to_start_without_a_secret_key(initialized):
    """Run without the entrypoint, gunicorn still stops, and its log names the missing setting."""
    env = base_environment(DATABASE_URL=initialized[0])
    del env["SECRET_KEY"]
    command = [sys.executable, "-m", "gunicorn", "opsportal.wsgi:application", "--bind", f"127.0.0.1:{free_port()}"]
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is required when DEBUG is off" in refused.stderr


def test_web_refuses_debug(initialized):
    refused = entrypoint("web", env=base_environment(DATABASE_URL=initialized[0], DEBUG="true"), timeout=60)
    assert refused.returncode == 1
    assert "error: web serves production: set DEBUG=false" in refused.stderr
