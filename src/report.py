"""Aggregate a grid into tables and figures: `python src/report.py outputs/grids/demo`."""

from scalegrid.cli import report_main

if __name__ == "__main__":
    report_main()
