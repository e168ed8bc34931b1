"""Evaluate a finished run again from its own config: `python src/eval.py run=<run dir or .ckpt> [split=val]`."""

from scalegrid.cli import eval_main

if __name__ == "__main__":
    eval_main()
