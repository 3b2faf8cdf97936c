"""Dataset generators and preparation: each a plain function that a thin script calls."""
