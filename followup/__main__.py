"""Allow ``python -m followup`` as well as the console script."""

from followup.cli.main import main

if __name__ == "__main__":
    main()
