"""Benchmarks of Modelyard, one script per area (metadata/, artifacts/, serving/, console/, and
peers/: side by side with MLflow), each run as a file
(``.venv/bin/python bench/metadata/bench_metadata.py``). The modules here hold what the scripts
share: the processes they start (_stack), the frame of a run (_run), load generation (_load),
cases timed back-to-back (_cases), CPU accounting (_cpu), the machine's other load and when it
makes a case busy (_machine), profiles (_profile) and tables (_report)."""
