"""Train one model, or a grid with -m: `python src/train.py model=resnet18 data.fraction=0.0625 -m`."""

from scalegrid.cli import train_main

if __name__ == "__main__":
    train_main()
