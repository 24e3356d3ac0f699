"""The README's first command (`kluster-agents demo`) and the recipes' backend selection."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kluster_agents.integrations import KlusterSettings
from kluster_agents.integrations._backend import kluster_backend


def test_without_key_the_emulator_is_started_and_announced() -> None:
    lines: list[str] = []
    with kluster_backend(announce=lines.append) as backend:
        assert backend.emulated and backend.emulator is not None
        assert os.environ["KLUSTER_BASE_URL"] == backend.emulator.base_url == backend.settings.base_url
        assert os.environ["KLUSTER_API_KEY"] == backend.emulator.api_key
    assert lines[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses)")
    assert "KLUSTER_BASE_URL" not in os.environ and "KLUSTER_API_KEY" not in os.environ  # restored


def test_with_key_the_real_api_is_used() -> None:
    lines: list[str] = []
    key = "kl-real-key-0123456789"
    with kluster_backend(KlusterSettings(api_key=key), announce=lines.append) as backend:
        assert not backend.emulated and backend.settings.base_url == "https://api.kluster.ai/v1"
    assert "KLUSTER_API_KEY is set" in lines[0] and key not in lines[0]


@pytest.mark.timeout(120)
def test_demo_runs_offline_and_says_it_is_emulated(script_runner: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    env["COLUMNS"] = "200"
    module = "kluster_agents.integrations._cli"  # python -m kluster_agents.integrations._cli demo
    proc = script_runner.run({"demo": module}, module=True, args=["demo"], env=env, cwd=tmp_path, timeout=110)["demo"]
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert out.splitlines()[0].startswith("No KLUSTER_API_KEY set: using the built-in kluster emulator")
    assert "[emulated] reply to: In one sentence: what is kluster.ai?" in out
    assert out.count(": succeeded: [emulated] reply to: Classify the sentiment") == 3
    assert "-> reliable:" in out and "-> HALLUCINATION:" in out and "1925" in out
    assert "All responses above were emulated" in out


def test_a_stale_emulator_export_is_one_typed_line_before_anything_runs(free_port: Any) -> None:
    """The `emulate` banner's exports after the emulator stopped: a loopback base URL where nothing answers."""
    from kluster_agents.integrations import KlusterConfigError, KlusterEmulatorNotRunningError

    base_url = f"http://127.0.0.1:{free_port()}/v1"
    lines: list[str] = []
    with pytest.raises(KlusterEmulatorNotRunningError) as caught:
        with kluster_backend(KlusterSettings(api_key="emulator", base_url=base_url), announce=lines.append):
            pytest.fail("the backend was entered")
    message = str(caught.value)
    assert isinstance(caught.value, KlusterConfigError) and "\n" not in message
    assert message.startswith(f"No kluster emulator answers at {base_url} (KLUSTER_BASE_URL)")
    assert "`kluster-agents emulate`" in message and "unset KLUSTER_BASE_URL and KLUSTER_API_KEY" in message
    assert lines == []  # never "Using the kluster.ai API at http://127.0.0.1..."


def test_a_loopback_server_that_is_no_emulator_is_used_as_configured(free_port: Any) -> None:
    """A local proxy in front of kluster.ai (say LiteLLM's) answers: it is the configured API, as before."""
    import socket
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        base_url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        lines: list[str] = []
        with kluster_backend(
            KlusterSettings(api_key="kl-real-key-0123456789", base_url=base_url), announce=lines.append
        ) as backend:
            assert not backend.emulated
    assert lines == [f"Using the kluster.ai API at {base_url} (KLUSTER_API_KEY is set)."]


def test_demo_with_a_stale_emulator_export_fails_in_one_line(
    script_runner: Any, tmp_path: Path, free_port: Any
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUSTER_")}
    env.update(KLUSTER_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", KLUSTER_API_KEY="emulator", COLUMNS="200")
    module = "kluster_agents.integrations._cli"
    proc = script_runner.run({"demo": module}, module=True, args=["demo"], env=env, cwd=tmp_path, timeout=110)["demo"]
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if "<frozen runpy>" not in line]  # `python -m`'s own warning
    assert "Traceback" not in proc.stderr and len(ours) == 1, proc.stderr
    assert ours[0].startswith("No kluster emulator answers at http://127.0.0.1:") or "No kluster emulator" in ours[0]
