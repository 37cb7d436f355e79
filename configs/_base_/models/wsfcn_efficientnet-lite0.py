# WS-FCN on the benchmark backbone (docs/benchmarks.md): EfficientNet-Lite0,
# output stride 16. Shallow input: level 1 (24-d, stride 4, the level
# closest to /4 like WideResNet-38's conv3); deep input: the head (1280-d,
# OS16, what the LargeFOV segmenter reads). The context dilations are the
# code's 1/12/24/36 at OS8 on a 41x41 map scaled by a third for the 14x14 map
# of a 224 crop (as LargeFOV's 12 becomes 4). 64 channels instead of 256:
# the /4 streams (8 SF2 convs + 2 bottleneck convs, 3x3 at 56x56) would
# otherwise cost ~10 LargeFOV steps on 2 CPU cores.
_base_ = ['./wsfcn_wideresnet38.py']
data_preprocessor = dict(
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    size=(224, 224))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(1, 7),
        output_stride=16,
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/efficientnet_lite0_imagenet.pth')),
    decode_head=dict(
        in_channels=(24, 1280),
        channels=64,
        context_cfg=dict(dilations=(1, 4, 8, 12)),
        fusion_cfg=dict(align_channels=32)),
    # SynthVOC images are 256 x 256: the scale-2 pass fits 512
    test_cfg=dict(pad_size=(512, 512)))
