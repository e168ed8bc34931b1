"""Datasets for the run wing: official files and your own images, seeded stratified subsets, batched tensor loaders.

``create.py`` reads first (a config to a LightningDataModule). Uses ``contract`` (atomic writes) and ``errors``;
never imports ``run``, ``grid``, ``analysis`` or ``models``.
"""
