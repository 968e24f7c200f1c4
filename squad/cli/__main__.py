"""``python -m squad.cli``: the ``squad`` command run by this interpreter."""

from squad.cli import main

if __name__ == "__main__":  # not when a test collector imports the module
    main()
