"""Constants and small helpers shared by the emulator tests."""

from __future__ import annotations

LLAMA_8B = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
NO_TOOLS_MODEL = "google/gemma-3-27b-it"
TEXT_ONLY_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
        },
    },
}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
