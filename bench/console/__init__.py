"""The console benchmark: the script bench_console.py and the modules only it uses."""
