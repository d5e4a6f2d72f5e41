"""`python -m cir ARGS` is `cir ARGS` (how `cir daemon start` spawns the service)."""

from cir.cli import main

if __name__ == "__main__":
    main()
