import sys

from minipod.cli.main import main

sys.exit(main())
