"""python -m mx_rec.evaluate: see mx_rec/pipeline/commands/evaluate.py."""

import sys

from mx_rec.pipeline.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
