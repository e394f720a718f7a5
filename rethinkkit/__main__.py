"""`python -m rethinkkit` (and `torchrun -m rethinkkit`): the `rethinkkit` command line."""
import sys

from .cli import main

sys.exit(main())
