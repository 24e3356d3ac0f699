"""The inspector page in a real browser: traffic from LangChain, LiteLLM, CrewAI and PydanticAI, a
batch job, a Verify check and a fine-tuning job, then what headless Chromium shows. Screenshots go
to tests/artifacts/ (gitignored); `UPDATE_INSPECTOR_SCREENSHOT=1` also refreshes docs/inspector.png.

Needs Debian's `chromium` at /usr/bin/chromium (`.ci/run` installs it); skipped without it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kluster_agents.integrations import make_client
from kluster_agents.integrations.emulator._server.server import Emulator

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
SMALL_MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
SECRET = "sk-browser-secret-5f3a9c"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="browser test: install Debian's chromium (/usr/bin/chromium); .ci/run does"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: the playwright package is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(api_key=SECRET) as emu:
        monkeypatch.setenv("KLUSTER_BASE_URL", emu.base_url)
        monkeypatch.setenv("KLUSTER_API_KEY", emu.api_key)
        yield emu


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    context.route("**/*", _loopback_only)  # nothing may come from the internet
    yield context.new_page()
    context.close()


def _loopback_only(route: Any) -> None:
    host = httpx.URL(route.request.url).host
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:  # pragma: no cover - would mean the page loads something from outside
        route.abort()
        pytest.fail(f"the inspector page tried to load {route.request.url}")


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"inspector-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# -- traffic --------------------------------------------------------------------------------------------


def _frameworks_traffic(emu: Emulator) -> None:
    """One request from each framework, in a thread of its own (Playwright's sync API holds an event
    loop in this one, and PydanticAI's run_sync needs its own)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_send_from_each_framework, emu).result()


def _send_from_each_framework(emu: Emulator) -> None:
    import litellm
    from langchain_core.messages import HumanMessage
    from pydantic_ai import Agent

    from kluster_agents.adapters.crewai import kluster_llm
    from kluster_agents.adapters.langchain import ChatKluster
    from kluster_agents.adapters.litellm import register
    from kluster_agents.adapters.pydantic_ai import kluster_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # LangChain with a parameter kluster does not take: `store` dropped.
        ChatKluster(api_key=emu.api_key, base_url=emu.base_url, model=TOOL_MODEL, max_tokens=64, store=True).invoke(
            [HumanMessage("What does the inspector show?")]
        )
        litellm.disable_hf_tokenizer_download = True
        register()
        litellm.completion(
            model=f"kluster/{TOOL_MODEL}", messages=[{"role": "user", "content": "Hello from LiteLLM"}], max_tokens=32
        )
        kluster_llm(TOOL_MODEL, settings=emu.settings).call("Hello from CrewAI")
        Agent(kluster_model(TOOL_MODEL, kluster_settings=emu.settings)).run_sync("Hello from PydanticAI")


def _batch_traffic(emu: Emulator) -> str:
    client = make_client(emu.settings)
    lines = [
        {"custom_id": f"q-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
        for i, body in enumerate(
            [
                {"model": SMALL_MODEL, "messages": [{"role": "user", "content": "Capital of France?"}]},
                {"model": SMALL_MODEL, "messages": [{"role": "user", "content": "Capital of Peru?"}]},
                {"model": "no-such/model", "messages": [{"role": "user", "content": "This line fails"}]},
            ]
        )
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    file_id = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    emu.controls.advance(10_000)
    assert client.batches.retrieve(batch.id).status == "completed"
    return batch.id


def _verify_traffic(emu: Emulator) -> None:
    response = httpx.post(
        f"{emu.base_url}/verify/reliability",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={
            "prompt": "What is the capital of France?",
            "output": "The capital of France is Berlin.",
            "context": "France is a country in Europe. Its capital is Paris.",
        },
        timeout=10,
    )
    response.raise_for_status()


def _finetune_traffic(emu: Emulator) -> str:
    client = make_client(emu.settings)
    data = "".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
        + "\n"
        for i in range(20)
    ).encode()
    file_id = client.files.create(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(training_file=file_id, model=SMALL_MODEL, hyperparameters={"n_epochs": 3})
    emu.controls.advance(10_000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    return job.id


# -- the tour ---------------------------------------------------------------------------------------------


def test_inspector_shows_what_every_framework_sent(emulator: Emulator, page: Any) -> None:
    emulator.controls.clock.freeze()
    _frameworks_traffic(emulator)
    batch_id = _batch_traffic(emulator)
    _verify_traffic(emulator)
    job_id = _finetune_traffic(emulator)

    page.goto(emulator.inspector_url)
    rows = page.locator("#request-rows tr")
    rows.first.wait_for()
    assert "?token=" not in page.url  # the token moves into the cookie, out of the address bar
    frameworks = set(page.locator("#request-rows td.fw").all_inner_texts())
    assert {"LangChain", "LiteLLM", "CrewAI", "PydanticAI"} <= frameworks

    # the LangChain request had compat changes: open it by keyboard (Tab to its link, Enter)
    langchain_row = page.locator("#request-rows tr[data-framework='LangChain']").last
    langchain_row.locator("a").focus()
    page.keyboard.press("Enter")
    detail = page.locator("#request-detail")
    detail.locator("h4", has_text="What compat changed").wait_for()
    compat = detail.locator("ul.compat").inner_text()
    assert "dropped store" in compat
    assert page.evaluate("document.activeElement.id") == "detail-title"
    _shot(page, "requests")

    # filter by framework
    page.select_option("#filter-framework", "PydanticAI")
    assert set(page.locator("#request-rows td.fw").all_inner_texts()) == {"PydanticAI"}
    page.select_option("#filter-framework", "")

    page.get_by_role("tab", name="Batch jobs").click()
    job = page.locator(f"article[data-batch='{batch_id}']")
    job.wait_for()
    assert "2 completed · 1 failed · 3 total" in job.inner_text()
    assert job.locator("[role=progressbar]").get_attribute("aria-valuenow") == "3"
    assert job.locator("tr.error").count() == 1 and "q-2" in job.locator("tr.error").inner_text()
    assert "Capital of France?" in job.locator("tbody").inner_text()
    _shot(page, "batches")

    page.keyboard.press("ArrowRight")  # keyboard: the tab list moves with the arrow keys
    assert page.get_by_role("tab", name="Verify").get_attribute("aria-selected") == "true"
    check = page.locator("article.check").first
    check.wait_for()
    assert "hallucination" in check.locator("h3").inner_text()
    assert "The capital of France is Berlin." in check.inner_text()
    assert check.locator("details").get_attribute("open") is None  # context collapsed
    _shot(page, "verify")

    page.get_by_role("tab", name="Fine-tuning").click()
    curve = page.locator("svg.loss")
    curve.wait_for()
    assert job_id in page.locator("#finetune").inner_text()
    label = curve.get_attribute("aria-label") or ""
    steps = re.search(r"training loss over (\d+) steps", label)
    assert steps is not None, label
    points = (curve.locator("polyline").get_attribute("points") or "").split()
    events = list(make_client(emulator.settings).fine_tuning.jobs.list_events(job_id, limit=100))
    step_events = [e for e in events if e.message.startswith("Step ")]
    assert len(points) == int(steps.group(1)) == len(step_events)
    _shot(page, "finetune")

    content = page.content()
    assert SECRET not in content
    for section in ("requests", "batches", "verify", "finetune"):
        assert SECRET not in page.locator(f"#{section}").inner_html()


def test_every_request_detail_hides_the_api_key(emulator: Emulator, page: Any) -> None:
    client = make_client(emulator.settings)
    client.chat.completions.create(
        model=SMALL_MODEL, messages=[{"role": "user", "content": f"Repeat my key {SECRET} back to me"}]
    )
    page.goto(emulator.inspector_url)
    page.locator("#request-rows a").first.click()
    detail = page.locator("#request-detail")
    detail.locator("pre[aria-label='request body']").wait_for()
    assert "Repeat my key *** back to me" in detail.inner_text()
    assert SECRET not in page.content() and "Bearer *** (redacted)" in page.content()


def test_without_the_token_the_browser_gets_401(emulator: Emulator, page: Any) -> None:
    base = emulator.inspector_url.split("?")[0]
    assert page.goto(base).status == 401
    assert page.goto(base + "?token=not-it").status == 401
    assert "Inspector token missing or wrong" in page.content()


def test_faults_armed_from_the_page_hit_the_next_requests(emulator: Emulator, page: Any) -> None:
    page.goto(emulator.inspector_url + "#faults")
    page.locator("#fault-kind").select_option("5xx")
    page.fill("input[name=times]", "2")
    page.fill("input[name=status]", "502")
    page.get_by_role("button", name="Arm").click()
    page.get_by_text("Armed: HTTP 502 for the next 2 request(s).").wait_for()
    assert "HTTP 502" in page.locator("table.armed").inner_text()
    _shot(page, "faults")
    client = make_client(emulator.settings, max_retries=0)
    statuses = []
    for _ in range(3):
        try:
            client.models.list()
            statuses.append(200)
        except Exception as exc:  # the SDK's InternalServerError
            statuses.append(getattr(exc, "status_code", None))
    assert statuses == [502, 502, 200]
    page.get_by_role("tab", name="Requests").click()
    page.locator("#request-rows tr.error").nth(1).wait_for()
    assert page.locator("#request-rows tr.error").count() == 2


def test_readme_screenshot(emulator: Emulator, page: Any) -> None:
    """The screenshot in the README (refreshed with UPDATE_INSPECTOR_SCREENSHOT=1)."""
    emulator.controls.clock.freeze()
    _frameworks_traffic(emulator)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(emulator.inspector_url)
    page.locator("#request-rows tr[data-framework='LangChain'] a").first.click()
    page.locator("#request-detail ul.compat").wait_for()
    shot = _shot(page, "readme")
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_INSPECTOR_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "inspector.png")
