# The kluster.ai cookbook's tool use notebook as a program, run against the emulator by
# tests/cookbook/test_cookbook_programs.py.
# Source: kluster-ai/klusterai-cookbook, examples/integrating-tools.ipynb at commit cc0b8d3 (its code cells in order;
# `%pip`/`!` shell lines dropped).
# Changed: only the API key (KLUSTER_API_KEY instead of a getpass prompt) and the base URL
# (KLUSTER_BASE_URL instead of https://api.kluster.ai/v1), marked "# changed:"
# --- cell 7 ---
import os  # changed: the key comes from the environment, not a getpass() prompt

api_key = os.environ["KLUSTER_API_KEY"]

# --- cell 11 ---
import os, json, re
from openai import OpenAI
from IPython.display import display, Markdown, HTML
from openai.types.chat import ChatCompletionMessageToolCall

# --- cell 13 ---
# Set up the client
client = OpenAI(
    base_url=os.environ["KLUSTER_BASE_URL"],  # changed: base URL
    api_key=api_key,
)

# --- cell 15 ---
# Choose the LLM to use throughout this tutorial
MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"

# --- cell 17 ---
calculator_prompt = "What is 1337 multiplied by 42?"

# --- cell 19 ---
#All examples share a tiny wrapper that sends a prompt + tool specs and lets the model decide whether to call a tool.
def run_with_tools(prompt: str, tools: list, model: str = MODEL):
    messages = [
        {"role": "user", "content": prompt}
    ]
    return client.chat.completions.create(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice="auto"   # let the LLM decide
    )

# Define a calculator tool
calculator_tool = [{
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate basic arithmetic expressions.",
        "parameters": {
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "The math expression to evaluate."
                }
            },
            "required": ["expression"]
        }
    }
}]

# Test with a math problem
calc_response = run_with_tools(calculator_prompt, calculator_tool)

print(json.dumps(calc_response.model_dump(), indent=2))

# --- cell 22 ---
def execute_calculator(expression):
    if not re.fullmatch(r"[0-9+\-*/().%\s]+", expression):
        return {"error": "Invalid characters"}
    return {"result": eval(expression)}  # ⚠️ demo only – replace eval in prod!

def complete_tool_call(tool_response, user_prompt):
    #Feed the tool result back so the model can speak English.
    msg = tool_response.choices[0].message
    tool_call = msg.tool_calls[0]
    tool_output = execute_calculator(json.loads(tool_call.function.arguments)["expression"])

    follow_up = [
        {"role": "user", "content": user_prompt},
        msg.model_dump(),
        {
            "role": "tool",
            "tool_call_id": tool_call.id,
            "content": json.dumps(tool_output)
        }
    ]
    final = client.chat.completions.create(
        model=MODEL,
        messages=follow_up
    )
    return final.choices[0].message.content

print(complete_tool_call(calc_response, calculator_prompt))

# --- cell 24 ---
# Describe the tool in JSON-schema form
web_search_tool = [{
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web and return JSON results.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"}
            },
            "required": ["query"]
        }
    }
}]

# --- cell 26 ---
# --- Mock web-search helper --------------------------------------------------
# In production, replace this stub with a real API call (Bing, Google, CoinGecko, etc.).
# If the query looks like a Bitcoin-price request, we inject a numeric `price_usd`
# field so the LLM can feed it straight into the calculator tool.
def execute_web_search(query: str):
    if "bitcoin" in query.lower():
        return {
            "price_usd": 111250.35,  # <-- model can grab this directly
            "results": [{
                "title": "Bitcoin price today",
                "snippet": "BTC is trading at $111,250.35.",
                "url": "https://example.com/btc"
            }]
        }

    return {
        "results": [{
            "title": f"Search results for: {query}",
            "snippet": "Demo search result.",
            "url": "https://example.com/search"
        }]
    }

# Query
q = "What are the latest findings on climate change?"

# Execute completions with web search tool
ws_response = run_with_tools(q, web_search_tool)

# --- cell 28 ---
# --- Post-process web_search -------------------------------------------------
# 1) Grab the tool call the LLM just emitted.
# 2) Run our (mock) execute_web_search and package the results as a
#    role="tool" message.
# 3) Ask the model to turn those JSON results into plain-English prose
#    (tool_choice="none" so it doesn’t call another tool).

def finish_web_search(response, user_prompt):
    # Return tool results and let the model summarise them.
    msg = response.choices[0].message

    # If the message does not contain any tool calls, return its content directly.
    if not msg.tool_calls:
        return msg.content

    call = msg.tool_calls[0]
    results = execute_web_search(json.loads(call.function.arguments)["query"])

    follow_up = [
        {"role": "user", "content": user_prompt},
        {"role": "assistant", "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments
                }
            }
        ]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(results)}
    ]

    final = client.chat.completions.create(
        model=MODEL,
        messages=follow_up,
        tools=web_search_tool,   # supply schema again
        tool_choice="none"      # no more tools – just prose
    )
    return final.choices[0].message.content

print(finish_web_search(ws_response, q))

# --- cell 31 ---
# Combined schema list the LLM will see (web_search + calculator).
multi_tools = calculator_tool + web_search_tool

# Handle tool_calls: run each tool, send back user + tool results, then let the model finish.
def process_multi_tool_calls(response, original_query):

    # Extract the message object from the response.
    msg = response.choices[0].message

    # If the message does not contain any tool calls, return its content directly.
    if not msg.tool_calls:
        return msg.content

    # Run every tool the model asked for 
    tool_msgs = []

    # Iterate over each tool call made by the model.
    for call in msg.tool_calls:
        name = call.function.name
        args = json.loads(call.function.arguments)

        # If the model called the web_search function, handle it.
        if name == "web_search":
            out = execute_web_search(args["query"])
        # If the model called the calculator function, handle it.    
        elif name == "calculator":
            out = execute_calculator(args["expression"])
        else:
            out = {"error": f"Unknown tool {name}"}

        # Format the tool's response as a message the model can understand
        tool_msgs.append({
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps(out)
        })

    # Create new completion request with response from tool calling
    follow_up = [
        {"role": "user", "content": original_query},
        *tool_msgs,
    ]

    final = client.chat.completions.create(
        model=MODEL,
        messages=follow_up,
        tool_choice="none"  # we've already run the tools
    )
    return final.choices[0].message.content

prompt = (
    "Use tools to answer the following two‑part question. "
    "First, call `web_search` with the query 'current Bitcoin price USD'. The result will include a numeric `price_usd` field. Second, **call `calculator` with the *numeric value* of `price_usd` divided by `100000000` (e.g. `68250.35 / 100000000`)** to compute the value of one satoshi. **Do not emit Python code—just use the calculator tool and reply in plain English.** "
    "Return the satoshi price in plain English."
)

raw = run_with_tools(prompt, multi_tools)
print(process_multi_tool_calls(raw, prompt))

prompt = (
    "What is one Bitcoin worth in USD right now? "
    "Then calculate the value of one satoshi (1/100 000 000 BTC) in USD."
)
raw = run_with_tools(prompt, multi_tools)
print(process_multi_tool_calls(raw, prompt))

