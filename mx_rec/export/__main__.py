"""python -m mx_rec.export: see mx_rec/pipeline/commands/export.py."""

import sys

from mx_rec.pipeline.commands.export import main

sys.exit(main())
