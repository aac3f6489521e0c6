"""The artifacts benchmark: the script bench_artifacts.py and the modules only it uses."""
