"""``python -m tapegrad.demo``: see :mod:`tapegrad.demo`."""

from tapegrad.demo import main

main()
