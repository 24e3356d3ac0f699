# The kluster.ai cookbook's fine-tuning notebook as a program, run against the emulator by
# tests/cookbook/test_cookbook_programs.py.
# Source: kluster-ai/klusterai-cookbook, examples/finetuning-sent-analysis.ipynb at commit cc0b8d3 (its code cells in order;
# `%pip`/`!` shell lines dropped).
# Changed: only the API key (KLUSTER_API_KEY instead of a getpass prompt) and the base URL
# (KLUSTER_BASE_URL instead of https://api.kluster.ai/v1), marked "# changed:"; and data loading:
# the dataset download is skipped (the test supplies a small financial-phrasebank.csv).
# --- cell 8 ---
import os  # changed: the key comes from the environment, not a getpass() prompt

api_key = os.environ["KLUSTER_API_KEY"]

# --- cell 12 ---
import urllib.request
import pandas as pd
from openai import OpenAI
import time
import json
import matplotlib.pyplot as plt
import os
import requests
from IPython.display import clear_output, display
pd.set_option('display.max_columns', 1000, 'display.width', 1000, 'display.max_rows',1000, 'display.max_colwidth', 500)

# --- cell 14 ---
# Set up the client
client = OpenAI(
    base_url=os.environ["KLUSTER_BASE_URL"],  # changed: base URL
    api_key=api_key,
)

# --- cell 16 ---
url = "https://raw.githubusercontent.com/kluster-ai/klusterai-cookbook/main/data/financial-phrasebank.csv"
# changed (data loading): no download; the test writes a small financial-phrasebank.csv here.
# urllib.request.urlretrieve(url,filename='financial-phrasebank.csv')

# Load and process the dataset based on URL content
df = pd.read_csv('financial-phrasebank.csv', encoding = "ISO-8859-1",header=None, names=["sentiment", "text"])

# For a faster running example, adjust the variable below to select a smaller subset of financial training content
df = df.iloc[:1500]
df.head(3)

# --- cell 19 ---
from sklearn.model_selection import train_test_split
# Split into train and test sets
train_df, test_df = train_test_split(df, test_size=0.7, random_state=42)

# --- cell 20 ---
print("The amount of data points for training:", len(train_df))
print("The amount of data points for testing:", len(test_df))
print("Total data points:", len(train_df) + len(test_df))

# --- cell 23 ---
SYSTEM_PROMPT = '''
    You are a helpful assistant specializing in determining the sentiment of financial news.
    Analyze the following text regarding financial information and assign one of the following labels to indicate its sentiment: positive, negative, or neutral.
    Provide your response as a single word without any punctuation.
    '''

# Ensure the directory exists
os.makedirs("fine_tuning", exist_ok=True)

# Create the messages file with the prompt, content, and sentiment for training
def create_messages_file(train_df):
    messages_list = []
    for index, row in train_df.iterrows():
        content = row['text']
        sentiment = row['sentiment']

        # Create the message structure
        messages = {
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": content},
                    {"role": "assistant", "content": sentiment}
                ],
            }
        
        messages_list.append(messages)
        
    return messages_list

# Save file
def save_messages_file(messages_list):
    filename = f"fine_tuning/request.jsonl"
    with open(filename, 'w') as file:
        for messages in messages_list:
            file.write(json.dumps(messages) + '\n')
    return filename

# --- cell 25 ---
messages_list = create_messages_file(train_df)
data_dir = save_messages_file(messages_list)
print(data_dir)

# --- cell 29 ---
# Upload fine-tuning file
with open(data_dir, 'rb') as file:
    upload_response = client.files.create(
        file=file,
        purpose="fine-tune"
    )

    # Print job ID
    file_id = upload_response.id
    print(f"File uploaded successfully. File ID: {file_id}")

# --- cell 31 ---
# Model
model = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"

# Create fine-tune job with the previous file
fine_tuning_job = client.fine_tuning.jobs.create(
    training_file=file_id,
    model=model,
    #hyperparameters={
    #  "batch_size": 3,
    #  "n_epochs": 2,
    #  "learning_rate_multiplier": 0.08
    #}
)
print("\nFine-tuning job created:")
fine_tuning_job_dict = fine_tuning_job.model_dump()
print(json.dumps(fine_tuning_job_dict, indent=2))

# --- cell 33 ---
def monitor_fine_tuning_job(fine_tuning_job):
    all_completed = False

    # Loop until all jobs are completed
    while not all_completed:
        all_completed = True
        output_lines = []

        # Loop through all batch jobs
        updated_job = client.fine_tuning.jobs.retrieve(fine_tuning_job.id)
        status = updated_job.status

        # If job is completed
        if status == "succeeded":
            output_lines.append("Job completed!")

        # If job failed, cancelled or expired
        elif status in ["failed", "cancelled"]:
            output_lines.append(f"Job ended with status: {status}")
            break

        # If job is ongoing
        else:
            all_completed = False
            output_lines.append(f"Job status: {status}")

        # Clear terminal
        clear_output(wait=True)
        for line in output_lines:
            display(line)

        # Check every 10 seconds
        if not all_completed:
            time.sleep(10)

# --- cell 34 ---
monitor_fine_tuning_job(fine_tuning_job)

# --- cell 36 ---
finished_job = client.fine_tuning.jobs.retrieve(fine_tuning_job.id)
fine_tuned_model = finished_job.fine_tuned_model
print(fine_tuned_model)

# --- cell 38 ---
# System prompt
SYSTEM_PROMPT = """
    You are a helpful assistant specializing in determining the sentiment of financial news.
    Analyze the following text regarding financial information and assign one of the following labels to indicate its sentiment: positive, negative, or neutral.
    Provide your response as a single lowercase word without any punctuation.
    Example response:
    neutral
    """

# Models
models = {
    "Llama3.1-8B": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
    "Llama3.3-70B": "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
    "Llama3.1-8B-FineTuned": fine_tuned_model,
}

# Ensure the directory exists
os.makedirs("fine_tuning", exist_ok=True)

# Create the batch job file with the prompt and content for the model
def create_batch_file(model):
    batch_requests = []
    
    for index, row in test_df.iterrows():
        content = row["text"]

        request = {
            "custom_id": f"{model}-{index}-fine-tuning-compare",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": models[model],
                "temperature": 0,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": content},
                ],
            },
        }
        
        batch_requests.append(request)

    return batch_requests

# Save file
def save_batch_file(batch_requests, model):
    filename = f"fine_tuning/batch_job_{model}_request.jsonl"
    with open(filename, "w") as file:
        for request in batch_requests:
            file.write(json.dumps(request) + "\n")
    return filename

# --- cell 40 ---
filenames = []

# Loop through each model and save the batch files
for model in models:
    batch_request = create_batch_file(model)
    filename = save_batch_file(batch_request, model)
    filenames.append(filename)
    print(filename)

# --- cell 44 ---
def upload_batch_file(data_dir):
  print(f"Creating request for {data_dir}")
  
  with open(data_dir, 'rb') as file:
    upload_response = client.files.create(
    file=file,
    purpose="batch"
  )

  # Print job ID
  file_id = upload_response.id
  print(f"File uploaded successfully. File ID: {file_id}")

  return upload_response

# --- cell 45 ---
batch_files = []

# Loop through all .jsonl files in the data folder
for data_dir in filenames:
    print(f"Uploading file {data_dir}")
    job = upload_batch_file(data_dir)
    batch_files.append(job)

# --- cell 47 ---
# Create batch job with completions endpoint
def create_batch_job(file_id):
  batch_job = client.batches.create(
    input_file_id=file_id,
    endpoint="/v1/chat/completions",
    completion_window="24h"
  )

  print(f"Batch job created with ID {batch_job.id}")
  return batch_job

# --- cell 48 ---
batch_jobs = []

# Loop through all batch files ID and start each job
for batch_file in batch_files:
    print(f"Creating batch job for file ID {batch_file.id}")
    batch_job = create_batch_job(batch_file.id)
    batch_jobs.append(batch_job)

# --- cell 50 ---
def monitor_batch_jobs(batch_jobs):
    all_completed = False

    # Loop until all jobs are completed
    while not all_completed:
        all_completed = True
        output_lines = []

        # Loop through all batch jobs
        for job in batch_jobs:
            updated_job = client.batches.retrieve(job.id)
            status = updated_job.status

            # If job is completed
            if status == "completed":
                output_lines.append("Job completed!")
            # If job failed, cancelled or expired
            elif status in ["failed", "cancelled", "expired"]:
                output_lines.append(f"Job ended with status: {status}")
                break
            # If job is ongoing
            else:
                all_completed = False
                completed = updated_job.request_counts.completed
                total = updated_job.request_counts.total
                output_lines.append(
                    f"Job status: {status} - Progress: {completed}/{total}"
                )

        # Clear terminal
        clear_output(wait=True)
        for line in output_lines:
            display(line)

        # Check every 10 seconds
        if not all_completed:
            time.sleep(10)

# --- cell 51 ---
monitor_batch_jobs(batch_jobs)

# --- cell 53 ---
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

# --- cell 54 ---
# Token usage per model
token_usage = {}

# Pricing at the time of writing
pricing = {
    "Llama3.1-8B": {"input": 0.18, "output": 18},
    "Llama3.3-70B": {"input": 0.70, "output": 0.70},
    "Llama3.1-8B-FineTuned": {"input": 0.18, "output": 18},
}

# Go through all batch jobs, providing the output file ID
for batch_job in batch_jobs:
    job_status = client.batches.retrieve(batch_job.id)
    result_file_id = job_status.output_file_id
    result = client.files.content(result_file_id).content
    results = parse_json_objects(result)

    # Extract model name from the response
    model_path = results[0]['response']['body']['model']
    model = next(k for k, v in models.items() if v == model_path)

    # Initialize counters for this model
    total_prompt_tokens = 0
    total_completion_tokens = 0

    answers = []
    for res in results:
        # Get answer
        answer = res['response']['body']['choices'][0]['message']['content']
        answers.append(answer)

        # Accumulate tokens
        usage = res['response']['body']['usage']
        total_prompt_tokens += usage.get('prompt_tokens', 0)
        total_completion_tokens += usage.get('completion_tokens', 0)

    # Save answers to DataFrame
    test_df[f'{model}_sentiment'] = answers

    # Calculate cost (per million tokens)
    input_price = pricing[model]['input']
    output_price = pricing[model]['output']
    cost = (total_prompt_tokens / 1_000_000) * input_price + (total_completion_tokens / 1_000_000) * output_price

    # Store token and cost data
    token_usage[model] = {
        'total_prompt_tokens': total_prompt_tokens,
        'total_completion_tokens': total_completion_tokens,
        'total_cost_usd': round(cost, 4)
    }

# --- cell 56 ---
# Calculate accuracy
accuracies = {}
for model in models:
    accuracy = test_df.apply(
    lambda row: row[f'{model}_sentiment'].lower() in [s.lower() for s in row['sentiment'].split(', ')], axis=1).mean()
    accuracies[model] = accuracy

# Plot colors
colors = ['#1E2A30', '#5C7482', '#8AA9BB']

# Create plot
fig, ax = plt.subplots(figsize=(12, 6))
bars = ax.bar(accuracies.keys(), accuracies.values(), color=colors, edgecolor='black')
ax.bar_label(bars, label_type='center', color='white', fmt="%.3f")

# Add token usage as text above bars
for bar, model in zip(bars, accuracies.keys()):
    prompt_tokens = token_usage[model]['total_prompt_tokens']
    completion_tokens = token_usage[model]['total_completion_tokens']
    cost = token_usage[model]['total_cost_usd']

    # Positioning text above the bar
    height = bar.get_height()
    ax.text(
        bar.get_x() + bar.get_width() / 2,
        height + 0.005,
        f"Input tokens: {prompt_tokens}\nOutput tokens: {completion_tokens}\nTotal tokens: {prompt_tokens+completion_tokens}\nCost: ${cost}",
        ha='center',
        va='bottom',
        fontsize=10,
        color='black'
    )

# Labels and title
ax.set_ylim(0, 1)
ax.set_xlabel('Model')
ax.set_ylabel('Accuracy')
ax.set_title('Accuracy by model with token usage')

plt.tight_layout()
plt.show()

