"""pretrained=<checkpoint> acts where a setting reads it and is refused in one line where nothing does."""

import pytest
from conftest import compose_config
from omegaconf import OmegaConf

from scalegrid.contract.pretrained_use import check_pretrained_is_read
from scalegrid.errors import ScalegridError


def _config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(list(overrides)), resolve=False)


@pytest.mark.parametrize(
    "overrides",
    [
        ["pretrained=/tmp/missing.ckpt"],  # a plain run: model.weights stays null
        ["pretrained=/tmp/missing.ckpt", "model=resnet18", "model.weights=imagenet"],
        ["pretrained=/tmp/missing.ckpt", "data=mnist", "model=mnist_net"],
    ],
)
def test_pretrained_that_nothing_reads_is_refused(overrides):
    with pytest.raises(ScalegridError, match=r"^pretrained=/tmp/missing.ckpt is set, but nothing in this run reads it"):
        check_pretrained_is_read(_config(*overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["pretrained=/tmp/source.ckpt", "model.weights=pretrained"],
        ["experiment=vgg_cifar", "pretrained=/tmp/source.ckpt"],  # the study's pretrained init reads it
        ["experiment=bigsmall", "size=cpu", "pretrained_from=source"],  # swept model.weights: null,pretrained
        ["experiment=transfer", "size=cpu", "pretrained_from=source"],
    ],
)
def test_pretrained_where_a_setting_reads_it_passes(overrides):
    check_pretrained_is_read(_config(*overrides), sweep=True)


def test_a_sweep_over_a_group_is_let_through_and_a_sweep_of_plain_values_is_not():
    arms = _config("experiment=finetune_depth", "pretrained=/tmp/source.ckpt")  # arms, composed per cell, read it
    check_pretrained_is_read(arms, sweep=True)
    plain = _config("experiment=tiny_cifar_dropout", "pretrained=/tmp/source.ckpt")  # sweeps dropout and seed only
    with pytest.raises(ScalegridError, match=r"nothing in this sweep reads it \(model.weights=None\)"):
        check_pretrained_is_read(plain, sweep=True)
