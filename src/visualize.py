"""Feature maps, filters and Grad-CAM of a finished run: `python src/visualize.py run=<run dir> images=[0,1]`."""

from scalegrid.cli import visualize_main

if __name__ == "__main__":
    visualize_main()
