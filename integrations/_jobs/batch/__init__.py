"""The Batch API engine, in the order a run goes through it: `input` validates each request through
compat and writes JSONL chunk files; `submit` uploads them and creates the jobs (`create`: exactly
once, across crashes and workers); `handle` polls the jobs and downloads their result files; `decode`
turns each line into a `BatchResult`; `results` reads them back in input order; `run` is the one-call
entry points on top.
"""
