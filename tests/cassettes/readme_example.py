# The README's cassette example, verbatim (tests/cassettes/test_plugin.py runs it as a user would; tests/docs/test_examples.py checks it is the one the README shows).
import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool

from kluster_agents.adapters.langchain import ChatKluster


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"18 °C and sunny in {city}"


@pytest.mark.kluster_cassette("weather_agent")  # replays cassettes/weather_agent.json
def test_weather_agent(kluster_emulator):
    model = ChatKluster(
        model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
        base_url=kluster_emulator.base_url,
        api_key=kluster_emulator.api_key,
    )
    agent = create_agent(model, tools=[get_weather])
    state = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})
    assert "Paris" in state["messages"][-1].content
