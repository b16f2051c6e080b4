"""`python -m affectlens`: the same command line as the `affectlens` script."""

from affectlens.cli import app

if __name__ == "__main__":
    app(prog_name="affectlens")
