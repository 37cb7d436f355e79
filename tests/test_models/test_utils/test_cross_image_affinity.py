"""CrossImageAffinity (cian.md 4), properties 1-7 of cian.md 13."""
import pytest
import torch
import torch.nn.functional as F

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.utils.affinity import (flatten_positions,
                                              pairwise_affinity)
from mmseg_wsss.models.utils.cross_image_affinity import (CrossImageAffinity,
                                                          group_ref_index,
                                                          merge_messages)

C, HW = 16, 9
PAIRS = torch.tensor([[1], [0], [3], [2]])


def _maps(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _module(trained_norm=True, **kwargs):
    """Freshly initialised module; with ``trained_norm`` a non-zero out
    norm (gamma, beta and running statistics) as after some training."""
    torch.manual_seed(0)
    module = CrossImageAffinity(C, **kwargs)
    module.init_weights()
    if trained_norm:
        norm = module.out_norm
        with torch.no_grad():
            norm.weight.copy_(_maps(C, seed=1))
            norm.bias.copy_(_maps(C, seed=2))
            norm.running_mean.copy_(_maps(C, seed=3) * 0.1)
            norm.running_var.fill_(0.5)
        # larger embeddings: a peaked softmax, messages far from uniform
        for conv in (module.theta, module.phi, module.g, module.out_conv):
            torch.nn.init.normal_(conv.weight, std=0.3)
    return module


def test_layers_and_init():
    module = _module(trained_norm=False)
    for conv in (module.theta, module.phi, module.g):
        assert conv.weight.shape == (C // 2, C, 1, 1) and conv.bias is None
    assert module.out_conv.weight.shape == (C, C // 2, 1, 1)
    assert module.out_conv.bias is None
    for conv in (module.theta, module.phi, module.g, module.out_conv):
        assert conv.weight.mean().abs() < 0.005
        assert 0.007 < conv.weight.std() < 0.013  # N(0, 0.01)
    assert torch.equal(module.out_norm.weight, torch.zeros(C))
    assert torch.equal(module.out_norm.bias, torch.zeros(C))
    assert module.out_norm.weight.requires_grad
    assert module.out_norm.momentum == 0.1 and module.out_norm.eps == 1e-5
    assert CrossImageAffinity(C, embed_ratio=0.25).theta.out_channels == 4


def test_loaded_gamma_survives_init():
    # round 2 starts from round 1: init_weights, then the checkpoint
    trained = _module()
    fresh = CrossImageAffinity(C)
    fresh.init_weights()
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh.out_norm.weight, trained.out_norm.weight)
    assert fresh.out_norm.weight.abs().sum() > 0


@pytest.mark.parametrize('kv_pool', [True, False])
def test_affinity_rows_sum_to_one(kv_pool):
    # property 1, self and cross pairs, on the module's embeddings
    module = _module(kv_pool=kv_pool)
    x = _maps(4, C, HW, HW)
    query, key, _ = module.embed(x)
    for refs in (torch.arange(4), PAIRS[:, 0]):
        aff = pairwise_affinity(query, key[refs])
        m = 25 if kv_pool else HW * HW
        assert aff.shape == (4, HW * HW, m)
        assert torch.all(aff >= 0)
        torch.testing.assert_close(
            aff.sum(2), torch.ones(4, HW * HW), rtol=0, atol=1e-5)


@pytest.mark.parametrize('train', [True, False])
def test_zero_gamma_is_identity(train):
    # property 2
    module = _module(trained_norm=False).train(train)
    x = _maps(4, C, HW, HW)
    z_self, z_cross = module(x, PAIRS)
    assert torch.equal(z_self, x) and torch.equal(z_cross, x)


@pytest.mark.parametrize('train', [True, False])
def test_self_pairing_gives_self_branch(train):
    # property 3
    module = _module().train(train)
    x = _maps(4, C, HW, HW)
    z_self, z_cross = module(x, torch.arange(4)[:, None])
    assert not torch.allclose(z_self, x, atol=1e-2)
    assert torch.equal(z_cross, z_self)


def test_no_ref_index_is_self_branch_only():
    module = _module().eval()
    x = _maps(2, C, HW, HW)
    z_self, z_cross = module(x)
    assert z_cross is None
    torch.testing.assert_close(z_self, module(x, PAIRS[:2])[0])


def test_max_merge_properties():
    # property 4 on the module's own messages
    module = _module()
    x = _maps(4, C, HW, HW)
    messages = module.messages(x, PAIRS)
    assert messages.shape == (2, 4, C // 2, HW, HW)
    merged = merge_messages(messages, 'max')
    assert torch.all(merged >= messages[0]) and torch.all(
        merged >= messages[1])
    assert torch.all((merged == messages[0]) | (merged == messages[1]))
    # the two sources both win somewhere: the merge is not a copy
    assert (merged != messages[0]).any() and (merged != messages[1]).any()
    torch.testing.assert_close(
        merge_messages(messages, 'avg'), (messages[0] + messages[1]) / 2)
    with pytest.raises(ValueError, match='mode'):
        merge_messages(messages, 'sum')


@pytest.mark.parametrize('merge', ['max', 'avg'])
def test_output_function_reads_merged_messages(merge):
    module = _module(merge=merge)
    seen = []
    module.out_conv.register_forward_hook(
        lambda _, args, out: seen.append(args[0]))
    x = _maps(4, C, HW, HW)
    module(x, PAIRS)
    messages = module.messages(x, PAIRS)
    assert len(seen) == 2  # self branch, then cross branch
    torch.testing.assert_close(seen[0], messages[0])
    torch.testing.assert_close(seen[1], merge_messages(messages, merge))


@pytest.mark.parametrize('train', [True, False])
def test_pair_swap_equivariance(train):
    # property 5: swap the images of each pair and the two pairs
    module = _module().train(train)
    x = _maps(4, C, HW, HW)
    perm = torch.tensor([3, 2, 1, 0])
    z_self, z_cross = module(x, PAIRS)
    p_self, p_cross = module(x[perm], PAIRS)
    torch.testing.assert_close(p_self, z_self[perm], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(p_cross, z_cross[perm], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(z_cross, z_self, atol=1e-3)


@pytest.mark.parametrize('size,pooled', [(9, 5), (41, 21), (8, 4), (1, 1),
                                         (10, 5)])
def test_pooled_sizes(size, pooled):
    # property 6: (n + 2 - 3) // 2 + 1
    assert pooled == (size + 2 - 3) // 2 + 1
    x = _maps(2, C, size, size + 1)
    _, key, value = _module().embed(x)
    assert key.shape == value.shape == (2, C // 2, pooled,
                                        (size + 1 + 2 - 3) // 2 + 1)
    _, key, value = _module(kv_pool=False).embed(x)
    assert key.shape == value.shape == (2, C // 2, size, size + 1)
    z_self, z_cross = _module()(x, torch.tensor([[1], [0]]))
    assert z_self.shape == z_cross.shape == x.shape


def test_zero_gamma_gates_the_gradient():
    # property 7: inside the module only the out norm's gamma / beta learn
    module = _module(trained_norm=False).train()
    x = _maps(4, C, HW, HW)
    z_self, z_cross = module(x, PAIRS)
    weights = _maps(2, 4, C, HW, HW, seed=5)
    ((z_self * weights[0]).sum() + (z_cross * weights[1]).sum()).backward()
    for conv in (module.theta, module.phi, module.g, module.out_conv):
        assert conv.weight.grad is not None
        assert torch.count_nonzero(conv.weight.grad) == 0
    assert torch.count_nonzero(module.out_norm.weight.grad) == C
    assert torch.count_nonzero(module.out_norm.bias.grad) == C
    # with a trained gamma the embeddings learn too
    module = _module().train()
    z_self, z_cross = module(x, PAIRS)
    ((z_self * weights[0]).sum() + (z_cross * weights[1]).sum()).backward()
    for conv in (module.theta, module.phi, module.g, module.out_conv):
        assert torch.count_nonzero(conv.weight.grad) > 0


def _naive(module, x, ref_index):
    """Per-image, per-reference loops of eq. 1-5 (eval-mode norm)."""
    query = module.theta(x)
    key = F.max_pool2d(module.phi(x), 3, 2, 1)
    value = F.max_pool2d(module.g(x), 3, 2, 1)

    def message(a, b):
        q = query[a].flatten(1).t()  # N x C'
        k, v = key[b].flatten(1), value[b].flatten(1)  # C' x M
        att = (q @ k).softmax(dim=1)  # N x M
        return (att @ v.t()).t().reshape(query.shape[1:])

    selfs, crosses = [], []
    for a in range(x.shape[0]):
        own = message(a, a)
        merged = own
        for b in ref_index[a].tolist():
            merged = torch.maximum(merged, message(a, b))
        selfs.append(own)
        crosses.append(merged)

    def out(m):
        return x + module.out_norm(module.out_conv(torch.stack(m)))

    return out(selfs), out(crosses)


def test_batched_gather_equals_naive_loops():
    module = _module().eval()
    x = _maps(6, C, HW, HW, seed=7)
    # arbitrary references, two per image, repeats and self included
    ref_index = torch.tensor([[1, 2], [0, 5], [2, 2], [4, 1], [0, 3], [3, 4]])
    z_self, z_cross = module(x, ref_index)
    n_self, n_cross = _naive(module, x, ref_index)
    torch.testing.assert_close(z_self, n_self, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z_cross, n_cross, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(z_cross, z_self, atol=1e-3)


def test_group_ref_index_layout():
    # property 13: group-contiguous groups; leftovers reference themselves
    assert group_ref_index(4, 2).tolist() == [[1], [0], [3], [2]]
    assert group_ref_index(5, 2).tolist() == [[1], [0], [3], [2], [4]]
    assert group_ref_index(1, 2).tolist() == [[0]]
    assert group_ref_index(7, 3).tolist() == [[1, 2], [2, 0], [0, 1], [4, 5],
                                              [5, 3], [3, 4], [6, 6]]
    assert group_ref_index(4, 2).dtype == torch.long
    with pytest.raises(ValueError, match='group_size'):
        group_ref_index(4, 1)


def test_bad_arguments_raise():
    module = _module()
    x = _maps(4, C, HW, HW)
    with pytest.raises(TypeError, match='integer'):
        module(x, PAIRS.float())
    with pytest.raises(ValueError, match='4 x R'):
        module(x, PAIRS[:3])
    with pytest.raises(ValueError, match='index the batch'):
        module(x, PAIRS + 1)
    with pytest.raises(ValueError, match='merge'):
        CrossImageAffinity(C, merge='sum')
    with pytest.raises(ValueError, match='norm_cfg'):
        CrossImageAffinity(C, norm_cfg=None)
    with pytest.raises(ValueError, match='embed_ratio'):
        CrossImageAffinity(C, embed_ratio=0.01)


def test_messages_use_flattened_positions():
    # message at query i = softmax row i over the reference's pooled keys
    module = _module()
    x = _maps(2, C, HW, HW)
    query, key, value = module.embed(x)
    messages = module.messages(x, torch.tensor([[1], [0]]))
    aff = pairwise_affinity(query, key[[1, 0]])
    expected = torch.bmm(aff, flatten_positions(value[[1, 0]]))
    torch.testing.assert_close(
        flatten_positions(messages[1]), expected, rtol=1e-4, atol=1e-5)


def test_parameter_count_matches_table_1():
    # cian.md 3: the self-affinity baseline adds 50.8 M - 42.4 M = 8.4 M
    module = CrossImageAffinity(2048)
    count = sum(p.numel() for p in module.parameters())
    assert count == 4 * 2048 * 1024 + 2 * 2048
    assert round(count / 1e6, 1) == 8.4
