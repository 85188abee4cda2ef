"""`python -m ling_compose` → cli.main()."""

import sys

from ling_compose.cli import main

sys.exit(main())
