"""Datasets, subsets and the batched tensor data path."""
