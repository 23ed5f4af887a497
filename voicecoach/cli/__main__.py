"""``python -m voicecoach.cli``: the same as the ``voicecoach`` command."""

import sys

from voicecoach.cli import main

if __name__ == "__main__":  # importing this module (e.g. walking the package) runs nothing
    sys.exit(main())
