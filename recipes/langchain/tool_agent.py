"""A LangChain 1.x agent (`create_agent`) on kluster.ai with two tools and several tool turns:
the model looks up the weather, converts the temperature, then answers.
Run: uv run python recipes/langchain/tool_agent.py   (no key needed: uses the emulator)
"""

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations import kluster_backend

WEATHER_C = {"paris": 18, "oslo": 4}


@tool
def get_weather(city: str) -> str:
    """Current temperature in a city, in degrees Celsius."""
    return f"{WEATHER_C.get(city.lower(), 20)} °C in {city}"


@tool
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from Celsius to Fahrenheit."""
    return f"{celsius * 9 / 5 + 32:.1f} °F"


with kluster_backend() as backend:
    llm = ChatKluster(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0)
    agent = create_agent(
        llm,
        tools=[get_weather, celsius_to_fahrenheit],
        system_prompt="Use the tools. Report temperatures in Fahrenheit.",
    )

    result = agent.invoke({"messages": [("user", "How warm is it in Paris, in Fahrenheit?")]})
    for message in result["messages"]:
        if isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                print(f"model called {call['name']}({call['args']})")
        elif isinstance(message, ToolMessage):
            print(f"  {message.name} -> {message.content}")
    print("answer:", result["messages"][-1].text)
    print("model turns:", sum(isinstance(m, AIMessage) for m in result["messages"]))
