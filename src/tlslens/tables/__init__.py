"""EDGE: `tlslens extract`, captures as a Parquet dataset: columns.py (the tables and their
rows, from the JSON contract), jobs.py (one job per capture: here, in a process pool or
on a dask.distributed cluster)."""
