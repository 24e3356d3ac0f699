# The kluster.ai cookbook's uploads API notebook as a program, run against the emulator by
# tests/cookbook/test_cookbook_programs.py.
# Source: kluster-ai/klusterai-cookbook, examples/uploads-api.ipynb at commit cc0b8d3 (its code cells in order;
# `%pip`/`!` shell lines dropped).
# Changed: only the API key (KLUSTER_API_KEY instead of a getpass prompt) and the base URL
# (KLUSTER_BASE_URL instead of https://api.kluster.ai/v1), marked "# changed:"
# --- cell 7 ---
import os  # changed: the key comes from the environment, not a getpass() prompt

api_key = os.environ["KLUSTER_API_KEY"]

# --- cell 9 ---
from openai import OpenAI
import os
import json
import time
import math
import pandas as pd
import hashlib
from tqdm import tqdm
from IPython.display import clear_output, display

# --- cell 11 ---
# Set up the client
client = OpenAI(
    base_url=os.environ["KLUSTER_BASE_URL"],  # changed: base URL
    api_key=api_key,
)

# --- cell 13 ---
def create_sample_jsonl(filename, num_samples=1000):
    """Create a sample JSONL file with text prompts for batch inference."""
    os.makedirs(os.path.dirname(filename), exist_ok=True)
    
    topics = [
        "climate change", "renewable energy", "space exploration", "quantum computing",
        "artificial intelligence", "biodiversity", "ocean conservation", "sustainable agriculture",
        "future of transportation", "advanced materials"
    ]
    
    with open(filename, 'w') as f:
        for i in range(num_samples):
            topic = topics[i % len(topics)]
            request = {
                "custom_id": f"sample-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    # Feel free to swap out the model with any of kluster's supported models
                    # You can also use your own kluster.ai dedicated deployment after launching one
                    # And specifying the model ID as the model parameter. 
                    # For more details, see https://docs.kluster.ai/get-started/dedicated-deployments/
                    "model": "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
                    "temperature": 0.7,
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant that provides concise information."},
                        {"role": "user", "content": f"Explain {topic} in one short paragraph"}
                    ],
                }
            }
            f.write(json.dumps(request) + '\n')
    
    file_size = os.path.getsize(filename)
    print(f"Created sample file '{filename}' with {num_samples} prompts ({file_size/1024/1024:.2f} MB)")
    return filename, file_size

# Create a sample JSONL file with 1000 prompts
sample_file, file_size = create_sample_jsonl('data/sample_large_file.jsonl', 1000)

# --- cell 16 ---
def create_upload(client, filename, file_size, purpose="batch", mime_type="application/jsonl"):
    """Create an Upload object to which we can add parts."""
    upload = client.uploads.create(
        purpose=purpose,
        filename=os.path.basename(filename),
        bytes=file_size,
        mime_type=mime_type
    )
    print(f"Created upload with ID: {upload.id}")
    print(f"Upload will expire at: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(upload.expires_at))}")
    return upload

# Get the file you want to upload
file_to_upload = sample_file
file_size = os.path.getsize(file_to_upload)

# Create the upload object
upload = create_upload(client, file_to_upload, file_size)

# --- cell 18 ---
def split_and_upload_parts(client, upload_id, file_path, num_parts=2):
    """Split a file into a specific number of chunks and upload each chunk as a part."""
    file_size = os.path.getsize(file_path)
    part_size = math.ceil(file_size / num_parts)
    
    print(f"Uploading file in {num_parts} parts (part size: {part_size/1024/1024:.2f} MB)")
    
    parts = []
    with open(file_path, 'rb') as f:
        for i in tqdm(range(num_parts), desc="Uploading parts"):
            # Read a chunk of the file
            chunk = f.read(part_size)
            
            # Create a temporary file for the chunk
            temp_filename = f"part_{i}.tmp"
            with open(temp_filename, 'wb') as temp_f:
                temp_f.write(chunk)
            
            # Upload the part
            with open(temp_filename, 'rb') as temp_f:
                part = client.uploads.parts.create(
                    upload_id=upload_id,
                    data=temp_f
                )
                parts.append(part)
                # Log the part ID
                print(f"Part {i+1}/{num_parts} uploaded with ID: {part.id}")
            
            # Clean up the temporary file
            os.remove(temp_filename)
    
    return parts

# For demonstration purposes, we'll use a smaller part size
parts = split_and_upload_parts(client, upload.id, file_to_upload, num_parts=2)

# --- cell 20 ---
def calculate_md5(file_path):
    """Calculate the MD5 checksum of a file."""
    md5_hash = hashlib.md5()
    with open(file_path, "rb") as f:
        # Read the file in chunks to avoid loading large files into memory
        for chunk in iter(lambda: f.read(4096), b""):
            md5_hash.update(chunk)
    return md5_hash.hexdigest()

file_md5 = calculate_md5(file_to_upload)
print(f"File MD5 checksum: {file_md5}")

# --- cell 22 ---
def complete_upload(client, upload_id, parts):
    """Complete the upload process with the ordered list of part IDs."""
    part_ids = [part.id for part in parts]
    
    params = {
        "upload_id": upload_id,
        "part_ids": part_ids
    }
    
    try:
        completed_upload = client.uploads.complete(**params)
        
        print(f"Upload completed successfully!")
        print(f"Status: {completed_upload.status}")
        print(f"File ID: {completed_upload.file.id}")
        return completed_upload
    except Exception as e:
        print(f"Error completing upload: {e}")
        raise
        
# Complete the upload
completed_upload = complete_upload(client, upload.id, parts)

# --- cell 24 ---
def create_batch_job(client, file_id):
    """Create a batch job using the uploaded file."""
    batch_job = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h"
    )
    
    print(f"Batch job created with ID: {batch_job.id}")
    print(f"Status: {batch_job.status}")
    return batch_job

# Create a batch job with the file we just uploaded
batch_job = create_batch_job(client, completed_upload.file.id)

# --- cell 26 ---
def monitor_batch_job(client, batch_job_id, check_interval=10):
    """Monitor the progress of a batch job until it's completed."""
    all_completed = False
    
    while not all_completed:
        all_completed = True
        output_lines = []
        
        updated_job = client.batches.retrieve(batch_job_id)
        
        if updated_job.status != "completed":
            all_completed = False
            completed = updated_job.request_counts.completed
            total = updated_job.request_counts.total
            output_lines.append(f"Job status: {updated_job.status} - Progress: {completed}/{total}")
        else:
            output_lines.append(f"Job completed!")
            output_lines.append(f"Output file ID: {updated_job.output_file_id}")
        
        # Clear the output and display updated status
        clear_output(wait=True)
        for line in output_lines:
            display(line)
        
        if not all_completed:
            time.sleep(check_interval)
    
    return updated_job

# Monitor the batch job progress
completed_job = monitor_batch_job(client, batch_job.id)

# --- cell 28 ---
def retrieve_batch_results(client, job):
    """Retrieve and parse the results of a completed batch job."""
    if job.status != "completed":
        print(f"Job is not completed yet. Current status: {job.status}")
        return None
    
    result_file_id = job.output_file_id
    result = client.files.content(result_file_id).content
    
    # Parse JSON results
    if isinstance(result, bytes):
        result = result.decode('utf-8')
        
    json_strings = result.strip().split('\n')
    json_objects = []
    
    for json_str in json_strings:
        try:
            json_obj = json.loads(json_str)
            json_objects.append(json_obj)
        except json.JSONDecodeError as e:
            print(f"Error parsing JSON: {e}")
    
    return json_objects

# Retrieve and parse the batch job results
results = retrieve_batch_results(client, completed_job)

# Display a sample of the results
if results:
    print(f"Retrieved {len(results)} results")
    
    # Now display the results with a more streamlined approach
    print("\nSample of results:")
    for i, result in enumerate(results[:5]):
        try:
            # Extract the content and ID based on the structure we now know
            content = result["response"]["body"]["choices"][0]["message"]["content"]
            custom_id = result.get("custom_id", f"unknown-{i}")
                
            print(f"\nResult {i+1} (Custom ID: {custom_id}):\n{content}")
        except (KeyError, IndexError, TypeError) as e:
            print(f"Error processing result {i+1}: {e}")
            # Print only the keys to understand structure, not all content
            print(f"Result keys: {list(result.keys())}")
            if "response" in result:
                print(f"Response keys: {list(result['response'].keys())}")

# --- cell 30 ---
def cancel_upload(client, upload_id):
    """Cancel an upload that's in progress or has failed."""
    cancelled_upload = client.uploads.cancel(upload_id=upload_id)
    
    print(f"Upload cancelled successfully!")
    print(f"Status: {cancelled_upload.status}")
    return cancelled_upload

# This is just for demonstration - we won't actually cancel our upload
# cancel_upload(client, upload.id)

# --- cell 33 ---
import concurrent.futures
import tempfile

def upload_part(client, upload_id, part_data, part_index):
    """Upload a single part and return the part object."""
    # Create a temporary file for the chunk
    with tempfile.NamedTemporaryFile(delete=False) as temp_f:
        temp_filename = temp_f.name
        temp_f.write(part_data)
    
    try:
        # Upload the part
        with open(temp_filename, 'rb') as temp_f:
            part = client.uploads.parts.create(
                upload_id=upload_id,
                data=temp_f
            )
        return part, part_index
    finally:
        # Clean up the temporary file
        os.remove(temp_filename)

def parallel_upload_parts(client, upload_id, file_path, num_parts=2, max_workers=2):
    """Split a file into a specific number of chunks and upload parts in parallel."""
    file_size = os.path.getsize(file_path)
    part_size = math.ceil(file_size / num_parts)
    
    print(f"Uploading file in {num_parts} parts using up to {max_workers} parallel workers")
    
    # Read all chunks from the file
    chunks = []
    with open(file_path, 'rb') as f:
        for i in range(num_parts):
            chunk = f.read(part_size)
            if chunk:  # Ensure we don't add empty chunks
                chunks.append(chunk)
    
    # Upload parts in parallel
    parts = [None] * len(chunks)  # Pre-allocate list to maintain order
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_workers) as executor:
        # Submit all upload tasks
        future_to_index = {}
        for i, chunk in enumerate(chunks):
            future = executor.submit(upload_part, client, upload_id, chunk, i)
            future_to_index[future] = i
        
        # Process results as they complete
        for i, future in enumerate(concurrent.futures.as_completed(future_to_index.keys())):
            try:
                part, index = future.result()
                parts[index] = part
                print(f"Part {index+1}/{len(chunks)} uploaded with ID: {part.id}")
            except Exception as e:
                print(f"Error uploading part: {e}")
    
    # Ensure all parts were uploaded successfully
    if None in parts:
        raise Exception("Some parts failed to upload")
    
    return parts
    
# To use parallel uploads, replace the call to split_and_upload_parts with:
# parts = parallel_upload_parts(client, upload.id, file_to_upload, num_parts=2, max_workers=2)

# --- cell 34 ---
# Advanced: Demonstrating Parallel Uploads

print("\n\n## PARALLEL UPLOAD DEMONSTRATION ##\n")

# First, create a new upload object for our parallel demo
print("Creating a new upload for parallel demonstration...")
parallel_upload = create_upload(client, file_to_upload, file_size)

# Now use the parallel upload function instead of the sequential one
print("\nUploading parts in parallel...")
parallel_parts = parallel_upload_parts(client, parallel_upload.id, file_to_upload, num_parts=2, max_workers=2)

# Complete the parallel upload
print("\nCompleting the parallel upload...")
parallel_completed_upload = complete_upload(client, parallel_upload.id, parallel_parts)

print("\nParallel upload demonstration completed!")
print(f"Parallel uploaded file ID: {parallel_completed_upload.file.id}")

# We won't use this file for further processing, it was just for demonstration
print("Note: This file was uploaded just for demonstration purposes.")

