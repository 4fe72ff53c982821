import sys

from minipod.quick import main

sys.exit(main())
