import sys

from hsmkms.cli import main

sys.exit(main())
