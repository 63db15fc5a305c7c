"""`python -m prefect_oxen.emulator --port 8765`."""

from prefect_oxen.emulator import main

if __name__ == "__main__":
    main()
