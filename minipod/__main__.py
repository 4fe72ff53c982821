import sys

from minipod.cli import main

sys.exit(main())
