"""The metadata benchmark: the script bench_metadata.py and the modules only it uses."""
