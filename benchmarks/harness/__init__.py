"""The benchmark driver's machinery, shared by every model: what is measured (`profile`), how (`measure`),
the run (`runner`) and the report (`report`). ``benchmarks/bench.py`` is the command line."""
