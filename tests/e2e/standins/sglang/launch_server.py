"""Stand-in for `python3 -m sglang.launch_server` (what compose files set as the entrypoint)."""

import sys

from standin import main

if __name__ == "__main__":
    sys.exit(main("sglang", sys.argv[1:]))
