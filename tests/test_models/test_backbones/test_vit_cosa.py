"""CoSA's ViT-B/16 through mmseg's VisionTransformer (cosa.md §2.2, §5
"Backbone reuse"; §6 properties 1 and 2 on the full-size model)."""
import pytest
import torch

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.models.backbones import VisionTransformer
from mmseg.registry import MODELS

VIT_B16 = dict(
    type='VisionTransformer',
    img_size=224,
    patch_size=16,
    patch_bias=True,  # timm's patch embedding has a bias, mmseg's default not
    embed_dims=768,
    num_layers=12,
    num_heads=12,
    mlp_ratio=4,
    out_indices=(9, 11),
    qkv_bias=True,
    drop_rate=0.,
    attn_drop_rate=0.,
    drop_path_rate=0.,
    with_cls_token=True,
    final_norm=True,
    norm_cfg=dict(type='LN', eps=1e-6),
    act_cfg=dict(type='GELU'),
    interpolate_mode='bicubic')
LARGEFOV = dict(
    type='LargeFOVHead',
    in_channels=768,
    in_index=1,
    channels=512,
    num_classes=21,
    dilation=5,
    fc7_kernel_size=3,
    conv_bias=False,
    fc_dropout_ratio=0.,
    dropout_ratio=0.,
    conv_seg_bias=False,
    norm_cfg=None)
DUAL_CAM = dict(
    type='DualCAMHead', in_channels=768, num_classes=21, in_index=(1, 0))


@pytest.fixture(scope='module')
def vit_b16():
    torch.manual_seed(0)
    backbone = MODELS.build(VIT_B16)
    backbone.pos_embed.requires_grad_(False)  # CoSA freezes it (§1.2)
    with torch.no_grad():
        backbone.pos_embed.normal_(std=0.02)
        backbone.cls_token.normal_(std=0.02)
    backbone.eval()
    return backbone


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_parameter_count(vit_b16):
    """Property 1: 85,647,360 + 5,908,992 + 30,720 = 91,587,072."""
    decode_head, cam_head = MODELS.build(LARGEFOV), MODELS.build(DUAL_CAM)
    assert trainable(vit_b16) == 85_647_360
    assert trainable(decode_head) == 5_908_992
    assert trainable(cam_head) == 30_720
    assert sum(map(trainable, (vit_b16, decode_head, cam_head))) == \
        91_587_072
    assert vit_b16.pos_embed.numel() == 197 * 768  # the frozen 14 x 14 + 1


def test_outputs_are_block9_raw_and_block11_normed(vit_b16):
    """Property 2 on ViT-B: out 0 = un-normed block 9, out 1 = LN(block 11);
    the 14 x 14 positional grid is resized to the input's 2 x 2."""
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = vit_b16(img)
        x, hw = vit_b16.patch_embed(img)
        pos = VisionTransformer.resize_pos_embed(vit_b16.pos_embed, hw,
                                                 (14, 14), 'bicubic')
        x = torch.cat([vit_b16.cls_token.expand(2, -1, -1), x], 1) + pos
        blocks = []
        for layer in vit_b16.layers:
            x = layer(x)
            blocks.append(x)
        final = vit_b16.norm1(blocks[11])

    def grid(tokens):
        return tokens[:, 1:].mT.reshape(2, 768, *hw)

    assert hw == (2, 2)
    assert [o.shape for o in outs] == [(2, 768, 2, 2)] * 2
    torch.testing.assert_close(outs[0], grid(blocks[9]))
    torch.testing.assert_close(outs[1], grid(final))
    assert not torch.allclose(outs[1], grid(blocks[11]), atol=1e-3)
    cam = MODELS.build(DUAL_CAM)(outs)
    assert cam['cam'].shape == cam['cam_aux'].shape == (2, 20, 2, 2)
