"""python -m mx_rec.predict: see mx_rec/pipeline/commands/predict.py."""

import sys

from mx_rec.pipeline.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
