"""`judge serve`: the engine behind HTTP for RL trainers and other long-running callers."""
