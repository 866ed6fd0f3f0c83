"""`python -m vpp.api`: the API process (what `vpp api` runs)."""

from vpp.api.app import run

if __name__ == "__main__":
    run()
