"""The table of every registered model (parameters, trainable under each policy, cost): `python src/model_table.py`."""

from scalegrid.cli import model_table_main

if __name__ == "__main__":
    model_table_main()
