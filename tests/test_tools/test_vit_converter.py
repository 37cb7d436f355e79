"""tools/model_converters/vit_timm_to_mmseg.py: key mapping and output parity
(cosa.md §6 property 2) of mmseg's ``VisionTransformer`` loaded with
converted timm weights.

Two references: ``timm`` itself (an optional test extra, skipped where it
cannot be imported) and :func:`timm_forward`, timm's ViT forward written out
with torch ops, which runs everywhere. Positional embeddings are resized the
way mmseg and CoSA's code do it (bicubic, ``align_corners=False``); timm's
own ``dynamic_img_size`` path passes ``antialias=True``, a different kernel,
so at other sizes timm is called with ``antialias=False``.
"""
import argparse
import importlib.util
import math
import os.path as osp
import sys
from functools import partial

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.models.backbones import VisionTransformer

CONVERTER = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'model_converters',
    'vit_timm_to_mmseg.py')
EMBED, DEPTH, HEADS, PATCH, IMG = 48, 4, 4, 8, 32


@pytest.fixture(scope='module')
def converter():
    spec = importlib.util.spec_from_file_location('vit_timm_to_mmseg',
                                                  CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_timm():
    """timm, or a skip (absent, or its torchvision cannot load its ops)."""
    try:
        import timm
    except (ImportError, RuntimeError) as e:
        pytest.skip(f'timm cannot be imported: {e}')
    return timm


def random_timm_state_dict(num_classes=10):
    """A state dict with timm ViT keys, shapes and order, random values."""
    d, shapes = EMBED, {}
    shapes['cls_token'] = (1, 1, d)
    shapes['pos_embed'] = (1, 1 + (IMG // PATCH)**2, d)
    shapes['patch_embed.proj.weight'] = (d, 3, PATCH, PATCH)
    shapes['patch_embed.proj.bias'] = (d, )
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        shapes.update({
            p + 'norm1.weight': (d, ),
            p + 'norm1.bias': (d, ),
            p + 'attn.qkv.weight': (3 * d, d),
            p + 'attn.qkv.bias': (3 * d, ),
            p + 'attn.proj.weight': (d, d),
            p + 'attn.proj.bias': (d, ),
            p + 'norm2.weight': (d, ),
            p + 'norm2.bias': (d, ),
            p + 'mlp.fc1.weight': (4 * d, d),
            p + 'mlp.fc1.bias': (4 * d, ),
            p + 'mlp.fc2.weight': (d, 4 * d),
            p + 'mlp.fc2.bias': (d, ),
        })
    shapes.update({
        'norm.weight': (d, ),
        'norm.bias': (d, ),
        'head.weight': (num_classes, d),
        'head.bias': (num_classes, ),
    })
    gen = torch.Generator().manual_seed(0)
    return {k: 0.3 * torch.randn(s, generator=gen) for k, s in shapes.items()}


def timm_forward(sd, x, eps=1e-6):
    """timm's ViT forward with torch ops: (block outputs, final-normed
    output), tokens B x (1 + h*w) x D, class token first."""
    x = F.conv2d(x, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'],
                 stride=PATCH)
    b, d, h, w = x.shape
    n = math.isqrt(sd['pos_embed'].shape[1] - 1)
    grid = sd['pos_embed'][:, 1:].reshape(1, n, n, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, (h, w), mode='bicubic', align_corners=False)
    pos = torch.cat([sd['pos_embed'][:, :1], grid.flatten(2).mT], dim=1)
    x = torch.cat([sd['cls_token'].expand(b, -1, -1), x.flatten(2).mT], 1)
    x = x + pos
    outs = []
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        y = F.layer_norm(x, (d, ), sd[p + 'norm1.weight'],
                         sd[p + 'norm1.bias'], eps)
        q, k, v = F.linear(y, sd[p + 'attn.qkv.weight'],
                           sd[p + 'attn.qkv.bias']).reshape(
                               b, -1, 3, HEADS,
                               d // HEADS).permute(2, 0, 3, 1, 4)
        attn = (q @ k.mT * (d // HEADS)**-0.5).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(b, -1, d)
        x = x + F.linear(y, sd[p + 'attn.proj.weight'],
                         sd[p + 'attn.proj.bias'])
        y = F.layer_norm(x, (d, ), sd[p + 'norm2.weight'],
                         sd[p + 'norm2.bias'], eps)
        y = F.gelu(F.linear(y, sd[p + 'mlp.fc1.weight'],
                            sd[p + 'mlp.fc1.bias']))
        x = x + F.linear(y, sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])
        outs.append(x)
    return outs, F.layer_norm(x, (d, ), sd['norm.weight'], sd['norm.bias'],
                              eps)


def to_grid(tokens, img_size):
    """Patch tokens (class token dropped) as B x D x h x w."""
    side = img_size // PATCH
    return tokens[:, 1:].mT.reshape(tokens.shape[0], -1, side, side)


def mmseg_vit():
    model = VisionTransformer(
        img_size=IMG,
        patch_size=PATCH,
        embed_dims=EMBED,
        num_layers=DEPTH,
        num_heads=HEADS,
        mlp_ratio=4,
        out_indices=(1, 3),
        qkv_bias=True,
        patch_bias=True,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic')
    model.eval()
    return model


def convert_file(converter, tmp_path, checkpoint):
    src, dst = str(tmp_path / 'timm.pth'), str(tmp_path / 'mmseg.pth')
    torch.save(checkpoint, src)
    converter.main([src, dst])
    return torch.load(dst, map_location='cpu', weights_only=True)


def assert_parity(model, sd, img_size):
    """Property 2: out 0 = un-normed block 1, out 1 = normed last block."""
    x = torch.randn(2, 3, img_size, img_size,
                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outs = model(x)
    blocks, final = timm_forward(sd, x)
    side = img_size // PATCH
    assert [o.shape for o in outs] == [(2, EMBED, side, side)] * 2
    torch.testing.assert_close(outs[0], to_grid(blocks[1], img_size))
    torch.testing.assert_close(outs[1], to_grid(final, img_size))
    assert not torch.allclose(outs[1], to_grid(blocks[3], img_size))


@pytest.mark.parametrize('img_size', [IMG, 48])
def test_parity_with_written_out_timm_forward(converter, tmp_path,
                                              img_size):
    sd = random_timm_state_dict()
    model = mmseg_vit()
    model.load_state_dict(
        convert_file(converter, tmp_path, dict(state_dict=sd)), strict=True)
    assert_parity(model, sd, img_size)


@pytest.mark.parametrize('img_size', [IMG, 48])
def test_parity_with_timm(converter, tmp_path, img_size):
    import_timm()
    from timm.layers import resample_abs_pos_embed
    from timm.models.vision_transformer import \
        VisionTransformer as TimmVisionTransformer
    torch.manual_seed(0)
    timm_vit = TimmVisionTransformer(
        img_size=IMG,
        patch_size=PATCH,
        embed_dim=EMBED,
        depth=DEPTH,
        num_heads=HEADS,
        qkv_bias=True,
        num_classes=10,
        norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
    for param in timm_vit.parameters():  # off timm's init: LN weights too
        nn.init.normal_(param, std=0.3)
    sd = timm_vit.state_dict()
    model = mmseg_vit()
    model.load_state_dict(
        convert_file(converter, tmp_path, sd), strict=True)

    x = torch.randn(2, 3, img_size, img_size)
    side = img_size // PATCH
    with torch.no_grad():
        outs = model(x)
        tokens = timm_vit.patch_embed.proj(x).flatten(2).mT
        pos = resample_abs_pos_embed(
            timm_vit.pos_embed, (side, side), antialias=False)
        tokens = torch.cat([timm_vit.cls_token.expand(2, -1, -1), tokens],
                           1) + pos
        block1 = timm_vit.blocks[:2](tokens)
        final = timm_vit.norm(timm_vit.blocks[2:](block1))
    torch.testing.assert_close(outs[0], to_grid(block1, img_size))
    torch.testing.assert_close(outs[1], to_grid(final, img_size))
    if img_size == IMG:
        with torch.no_grad():
            features = timm_vit.forward_features(x)
        torch.testing.assert_close(outs[1], to_grid(features, img_size))
    # the written-out forward that the timm-free test uses agrees with timm
    blocks, written_final = timm_forward(sd, x)
    torch.testing.assert_close(written_final, final)
    torch.testing.assert_close(blocks[1], block1)


def test_head_dropped_and_unknown_keys_listed(converter):
    sd = random_timm_state_dict()
    sd['reg_token'] = torch.zeros(1, 4, EMBED)
    sd['blocks.0.ls1.gamma'] = torch.ones(EMBED)
    converted, unconverted = converter.convert(sd)
    assert unconverted == [
        'head.weight', 'head.bias', 'reg_token', 'blocks.0.ls1.gamma'
    ]
    assert not any(k.startswith(('head', 'blocks')) for k in converted)
    assert converted['cls_token'] is sd['cls_token']
    assert converted['pos_embed'] is sd['pos_embed']
    assert converted['ln1.weight'] is sd['norm.weight']
    assert converted['layers.3.attn.attn.in_proj_weight'] is \
        sd['blocks.3.attn.qkv.weight']


@pytest.mark.parametrize('wrap', ['plain', 'state_dict', 'model', 'module'])
def test_wrapped_checkpoints_unwrapped(converter, tmp_path, wrap):
    sd = random_timm_state_dict()
    checkpoint = dict(
        plain=sd,
        state_dict=dict(
            state_dict=sd, args=argparse.Namespace(model='vit'), epoch=3),
        model=dict(model=sd),
        module={f'module.{k}': v
                for k, v in sd.items()})[wrap]
    converted = convert_file(converter, tmp_path, checkpoint)
    mmseg_vit().load_state_dict(converted, strict=True)


def test_safetensors_file(converter, tmp_path):
    safetensors_torch = pytest.importorskip('safetensors.torch')
    sd = random_timm_state_dict()
    src, dst = str(tmp_path / 'timm.safetensors'), str(tmp_path / 'out.pth')
    safetensors_torch.save_file(sd, src)
    converter.main([src, dst])
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    torch.testing.assert_close(converted['ln1.bias'], sd['norm.bias'])


def test_safetensors_without_package(converter, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'safetensors', None)
    monkeypatch.setitem(sys.modules, 'safetensors.torch', None)
    src = str(tmp_path / 'timm.safetensors')
    open(src, 'wb').close()
    with pytest.raises(SystemExit, match='pip install safetensors'):
        converter.main([src, str(tmp_path / 'out.pth')])


def test_refuses_non_vit_checkpoints(converter, tmp_path):
    efficientnet = {
        '_conv_stem.weight': torch.zeros(32, 3, 3, 3),
        '_bn0.weight': torch.zeros(32)
    }
    with pytest.raises(ValueError, match='not a timm ViT.*cls_token'):
        converter.convert(efficientnet)
    src = str(tmp_path / 'effnet.pth')
    torch.save(efficientnet, src)
    with pytest.raises(SystemExit, match='not a timm ViT'):
        converter.main([src, str(tmp_path / 'out.pth')])
    assert not osp.exists(tmp_path / 'out.pth')

    no_class_pos = random_timm_state_dict()
    no_class_pos['pos_embed'] = no_class_pos['pos_embed'][:, 1:]
    with pytest.raises(ValueError, match='pos_embed of shape'):
        converter.convert(no_class_pos)

    gap = {
        k.replace('blocks.3.', 'blocks.5.'): v
        for k, v in random_timm_state_dict().items()
    }
    with pytest.raises(ValueError, match='not numbered'):
        converter.convert(gap)


def test_refuses_files_without_tensors(converter, tmp_path):
    src = str(tmp_path / 'list.pth')
    torch.save([torch.zeros(1)], src)
    with pytest.raises(SystemExit, match='no state dict of tensors'):
        converter.main([src, str(tmp_path / 'out.pth')])

    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state_dict=random_timm_state_dict(), fn=partial(max)),
               unsafe)
    with pytest.raises(SystemExit, match='weights-only loading refused'):
        converter.main([unsafe, str(tmp_path / 'out.pth')])
