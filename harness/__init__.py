"""qabench's harness: joins tasks and models into features, training, evaluation, run records and the CLI."""

__version__ = "0.1.0"
