"""A two-agent CrewAI crew on kluster.ai: a researcher who looks facts up with a tool, and a
writer who turns them into a short brief. Tool calls are native on Llama 3.3 70B.
Run: uv run python recipes/crewai/research_crew.py   (no key needed: uses the emulator)
"""

import os

# CrewAI reports usage unless told not to; this must happen before crewai is imported.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")

from crewai import Agent, Crew, Task
from crewai.tools import tool

from kluster_agents.adapters.crewai import kluster_llm
from kluster_agents.integrations import kluster_backend

FACTS = {
    "batch api": "kluster.ai's Batch API takes a JSONL file of chat requests and returns results within a "
    "completion window (24h by default) at a lower price than real-time calls.",
    "verify": "kluster.ai Verify checks an answer for hallucinations, optionally against a given context, "
    "and explains what is unsupported.",
}


@tool("lookup_facts")
def lookup_facts(topic: str) -> str:
    """Look up reference facts about a kluster.ai feature (e.g. 'batch api', 'verify')."""
    return FACTS.get(topic.strip().lower(), f"No facts stored about {topic!r}.")


with kluster_backend() as backend:
    llm = kluster_llm("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0)
    researcher = Agent(
        role="Researcher",
        goal="Collect accurate facts with the lookup tool",
        backstory="You never state a fact you have not looked up.",
        llm=llm,
        tools=[lookup_facts],
    )
    writer = Agent(role="Writer", goal="Write short, plain briefs", backstory="You write for busy engineers.", llm=llm)
    research = Task(
        description='Look up the facts about the kluster.ai feature "{feature}".',
        expected_output="The facts, quoted from the lookup tool",
        agent=researcher,
    )
    brief = Task(
        description="Write a two-sentence brief about kluster.ai's {feature} from the research.",
        expected_output="Two sentences",
        agent=writer,
        context=[research],
    )
    crew = Crew(agents=[researcher, writer], tasks=[research, brief])

    result = crew.kickoff(inputs={"feature": "batch api"})
    for task_output in result.tasks_output:
        print(f"[{task_output.agent}] {task_output.raw}")
    if backend.emulator is not None:  # the built-in emulator's request log
        calls = [r.body for r in backend.emulator.controls.requests if r.path.endswith("/chat/completions")]
        print(f"chat completions: {len(calls)}, with native tools: {sum('tools' in body for body in calls)}")
