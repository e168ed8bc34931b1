"""Backbones behind one registry: ``create_model(name, num_classes, input_shape)``; weights; which parts freeze.

``registry.py`` reads first. Uses ``errors`` only (and ``contract`` for files); never imports ``run``, ``grid``,
``analysis`` or ``data``.
"""

# Importing the modules registers their models.
from scalegrid.models import cifar_resnet, mlp, resnets, small_cnns, vgg  # noqa: F401
from scalegrid.models.registry import available_models, create_model, model_entry, register_model

__all__ = ["available_models", "create_model", "model_entry", "register_model"]
