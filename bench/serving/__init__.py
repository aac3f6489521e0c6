"""The serving benchmark: the script bench_serving.py and the modules only it uses."""
