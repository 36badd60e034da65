"""python -m mx_rec.train_eval: see mx_rec/pipeline/commands/train_eval.py."""

import sys

from mx_rec.pipeline.commands.train_eval import main

if __name__ == "__main__":
    sys.exit(main())
