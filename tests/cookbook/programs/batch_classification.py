# The kluster.ai cookbook's batch classification notebook as a program, run against the emulator by
# tests/cookbook/test_cookbook_programs.py.
# Source: kluster-ai/klusterai-cookbook, examples/text-classification/text-classification-openai-api.ipynb at commit cc0b8d3 (its code cells in order;
# `%pip`/`!` shell lines dropped).
# Changed: only the API key (KLUSTER_API_KEY instead of a getpass prompt) and the base URL
# (KLUSTER_BASE_URL instead of https://api.kluster.ai/v1), marked "# changed:"
# --- cell 7 ---
import os  # changed: the key comes from the environment, not a getpass() prompt

api_key = os.environ["KLUSTER_API_KEY"]

# --- cell 11 ---
from openai import OpenAI

import pandas as pd
import time
import json
import os
from IPython.display import clear_output, display

# --- cell 13 ---
# Set up the client
client = OpenAI(
    base_url=os.environ["KLUSTER_BASE_URL"],  # changed: base URL
    api_key=api_key,
)

# --- cell 16 ---
df = pd.DataFrame({
    "text": [
        "Breakfast at Tiffany's: A young New York socialite becomes interested in a young man who has moved into her apartment building, but her past threatens to get in the way.",
        "Giant: Sprawling epic covering the life of a Texas cattle rancher and his family and associates.",
        "From Here to Eternity: In Hawaii in 1941, a private is cruelly punished for not boxing on his unit's team, while his captain's wife and second-in-command are falling in love.",
        "Lifeboat: Several survivors of a torpedoed merchant ship in World War II find themselves in the same lifeboat with one of the crew members of the U-boat that sank their ship.",
        "The 39 Steps: A man in London tries to help a counter-espionage Agent. But when the Agent is killed, and the man stands accused, he must go on the run to save himself and stop a spy ring which is trying to steal top secret information."
    ]
})

# --- cell 21 ---
# Prompt
SYSTEM_PROMPT = '''
    Classify the main genre of the given movie description based on the following genres (Respond with only the genre):
    “Action”, “Adventure”, “Comedy”, “Crime”, “Documentary”, “Drama”, “Fantasy”, “Horror”, “Romance”, “Sci-Fi”.
    '''

# Models
#model="deepseek-ai/DeepSeek-R1"
model="deepseek-ai/DeepSeek-V3-0324"
#model="klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
#model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
#model="Qwen/Qwen2.5-VL-7B-Instruct"

# Ensure the directory exists
os.makedirs("text_clasification", exist_ok=True)

# Create the batch job file with the prompt and content
def create_batch_file(df):
    batch_list = []
    for index, row in df.iterrows():
        content = row['text']

        request = {
            "custom_id": f"movie_classification-{index}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": model,
                "temperature": 0.5,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": content}
                ],
            }
        }
        batch_list.append(request)
    return batch_list

# Save file
def save_batch_file(batch_list):
    filename = f"text_clasification/batch_job_request.jsonl"
    with open(filename, 'w') as file:
        for request in batch_list:
            file.write(json.dumps(request) + '\n')
    return filename

# --- cell 23 ---
batch_list = create_batch_file(df)
data_dir = save_batch_file(batch_list)
print(data_dir)

# --- cell 28 ---
# Upload batch job request file
with open(data_dir, 'rb') as file:
    upload_response = client.files.create(
        file=file,
        purpose="batch"
    )

    # Print job ID
    file_id = upload_response.id
    print(f"File uploaded successfully. File ID: {file_id}")

# --- cell 31 ---
# Create batch job with completions endpoint
batch_job = client.batches.create(
    input_file_id=file_id,
    endpoint="/v1/chat/completions",
    completion_window="24h"
)

print("\nBatch job created:")
batch_dict = batch_job.model_dump()
print(json.dumps(batch_dict, indent=2))

# --- cell 34 ---
all_completed = False

# Loop to check status every 10 seconds
while not all_completed:
    all_completed = True
    output_lines = []

    updated_job = client.batches.retrieve(batch_job.id)

    if updated_job.status != "completed":
        all_completed = False
        completed = updated_job.request_counts.completed
        total = updated_job.request_counts.total
        output_lines.append(f"Job status: {updated_job.status} - Progress: {completed}/{total}")
    else:
        output_lines.append(f"Job completed!")

    # Clear the output and display updated status
    clear_output(wait=True)
    for line in output_lines:
        display(line)

    if not all_completed:
        time.sleep(10)

# --- cell 37 ---
#Parse results as a JSON object
def parse_json_objects(data_string):
    if isinstance(data_string, bytes):
        data_string = data_string.decode('utf-8')

    json_strings = data_string.strip().split('\n')
    json_objects = []

    for json_str in json_strings:
        try:
            json_obj = json.loads(json_str)
            json_objects.append(json_obj)
        except json.JSONDecodeError as e:
            print(f"Error parsing JSON: {e}")

    return json_objects

# Retrieve results with job ID
job = client.batches.retrieve(batch_job.id)
result_file_id = job.output_file_id
result = client.files.content(result_file_id).content

# Parse JSON results
parsed_result = parse_json_objects(result)

# Extract and print only the content of each response
print("\nExtracted Responses:")
for item in parsed_result:
    try:
        content = item["response"]["body"]["choices"][0]["message"]["content"]
        print(content)
    except KeyError as e:
        print(f"Missing key in response: {e}")

