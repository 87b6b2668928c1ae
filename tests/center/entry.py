"""``python tests/center/entry.py ...``: the dcwatch CLI with the live-deployment commands
registered (as dcwatch.cli will register them), for the tests' subprocesses."""

import sys

from dcwatch.center.cli import center, health
from dcwatch.cli import main
from dcwatch.intake.cli import ship

main.add_command(center)
main.add_command(health)
main.add_command(ship)

if __name__ == "__main__":
    sys.exit(main())
