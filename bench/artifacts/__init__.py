"""The artifacts benchmark: the script bench_artifacts.py and the modules it uses (the files it
moves, ``_files``, are the peers benchmark's too)."""
