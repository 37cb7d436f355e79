import torch

from mmseg_wsss.models.utils.affinity import (PairwiseAffinity, UnaryAffinity,
                                              flatten_positions,
                                              pairwise_affinity,
                                              pairwise_context, propagate,
                                              unary_affinity, unary_context)


def _maps(*shape, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen) * scale


def test_flatten_positions_is_raster_order():
    x = _maps(2, 3, 4, 5)
    flat = flatten_positions(x)
    assert flat.shape == (2, 20, 3)
    # position i * w + j holds pixel (i, j)
    torch.testing.assert_close(flat[1, 2 * 5 + 3], x[1, :, 2, 3])


def test_pairwise_affinity_rows_are_distributions():
    q, k = _maps(2, 4, 3, 5, seed=1), _maps(2, 4, 3, 5, seed=2)
    aff = pairwise_affinity(q, k)
    assert aff.shape == (2, 15, 15)
    assert torch.all(aff >= 0)
    torch.testing.assert_close(
        aff.sum(2), torch.ones(2, 15), rtol=0, atol=1e-5)
    # softmax over the key index j of the raw (unscaled) dot products
    logits = torch.einsum('bci,bcj->bij', q.flatten(2), k.flatten(2))
    torch.testing.assert_close(aff, logits.softmax(2))
    # not row-and-column stochastic in general: columns do not sum to 1
    assert not torch.allclose(aff.sum(1), torch.ones(2, 15), atol=1e-3)


def test_pairwise_context_equals_materialised_propagation():
    q, k = _maps(2, 6, 4, 3, seed=3), _maps(2, 6, 4, 3, seed=4)
    v = _maps(2, 5, 4, 3, seed=5)  # value channels may differ
    context = pairwise_context(q, k, v)
    assert context.shape == v.shape
    expected = propagate(pairwise_affinity(q, k), v)
    torch.testing.assert_close(context, expected, rtol=1e-5, atol=1e-5)


def test_keys_and_values_of_another_size():
    # queries on 4 x 3 (N = 12), keys/values on 2 x 5 (M = 10)
    q = _maps(2, 6, 4, 3, seed=14)
    k, v = _maps(2, 6, 2, 5, seed=15), _maps(2, 5, 2, 5, seed=16)
    aff = pairwise_affinity(q, k)
    assert aff.shape == (2, 12, 10)
    torch.testing.assert_close(
        aff.sum(2), torch.ones(2, 12), rtol=0, atol=1e-5)
    context = pairwise_context(q, k, v)
    assert context.shape == (2, 5, 4, 3)
    expected = torch.bmm(aff, flatten_positions(v)).transpose(1, 2)
    torch.testing.assert_close(
        context, expected.reshape(2, 5, 4, 3), rtol=1e-5, atol=1e-5)


def test_propagate_identity_and_uniform():
    x = _maps(2, 3, 4, 5, seed=6)
    n = 20
    eye = torch.eye(n).expand(2, n, n)
    torch.testing.assert_close(propagate(eye, x), x)
    uniform = torch.full((2, n, n), 1. / n)
    out = propagate(uniform, x)
    mean = x.mean((2, 3), keepdim=True).expand_as(x)
    torch.testing.assert_close(out, mean, rtol=1e-5, atol=1e-6)


def test_propagate_row_i_is_weighted_sum_over_j():
    x = _maps(1, 2, 2, 2, seed=7)
    aff = torch.zeros(1, 4, 4)
    aff[0, 0, 3] = 1.  # position 0 takes position 3 (pixel (1, 1))
    aff[0, 1, 0] = aff[0, 1, 2] = 0.5
    aff[0, 2, 2] = aff[0, 3, 3] = 1.
    out = propagate(aff, x)
    torch.testing.assert_close(out[0, :, 0, 0], x[0, :, 1, 1])
    torch.testing.assert_close(out[0, :, 0, 1],
                               (x[0, :, 0, 0] + x[0, :, 1, 0]) / 2)
    torch.testing.assert_close(out[0, :, 1, :], x[0, :, 1, :])


def test_unary_affinity_positive_distribution():
    logits = _maps(2, 1, 3, 4, seed=8, scale=3.)
    u = unary_affinity(logits)
    assert u.shape == (2, 12)
    assert torch.all(u > 0)
    torch.testing.assert_close(u.sum(1), torch.ones(2), rtol=0, atol=1e-5)
    torch.testing.assert_close(u, logits.flatten(1).softmax(1))
    # softmax over all positions, not over a spatial axis
    assert u[0].argmax() == logits[0].flatten().argmax()


def test_unary_context_one_hot_and_uniform():
    v = _maps(2, 3, 4, 5, seed=9)
    n = 20
    one_hot = torch.zeros(2, n)
    one_hot[0, 7] = 1.
    one_hot[1, 13] = 1.
    c = unary_context(one_hot, v)
    assert c.shape == (2, 3, 1, 1)
    torch.testing.assert_close(c[0, :, 0, 0], v[0, :, 1, 2])  # 7 = 1*5+2
    torch.testing.assert_close(c[1, :, 0, 0], v[1, :, 2, 3])  # 13 = 2*5+3
    uniform = torch.full((2, n), 1. / n)
    torch.testing.assert_close(
        unary_context(uniform, v), v.mean((2, 3), keepdim=True), rtol=1e-5,
        atol=1e-6)
    # a huge spike of the score map makes u one-hot, so c = v_j
    logits = torch.zeros(2, 1, 4, 5)
    logits[:, 0, 3, 1] = 1e4
    c = unary_context(unary_affinity(logits), v)
    torch.testing.assert_close(c[..., 0, 0], v[:, :, 3, 1])


def test_pairwise_affinity_module_materialize_flag():
    torch.manual_seed(0)
    module = PairwiseAffinity(6)
    x = _maps(2, 6, 3, 4, seed=10, scale=0.5)
    ctx_fast, value_fast, none = module(x, materialize=False)
    ctx, value, aff = module(x, materialize=True)
    assert none is None
    assert aff.shape == (2, 12, 12)
    torch.testing.assert_close(aff.sum(2), torch.ones(2, 12), rtol=0,
                               atol=1e-5)
    torch.testing.assert_close(ctx_fast, ctx, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value_fast, value)
    torch.testing.assert_close(value, module.value(x))
    torch.testing.assert_close(
        aff, pairwise_affinity(module.query(x), module.key(x)))
    torch.testing.assert_close(ctx, propagate(aff, value))


def test_pairwise_key_has_no_bias():
    # a key bias b adds q_i . b to row i of the logits: the softmax over the
    # keys ignores it, so it could never learn
    torch.manual_seed(0)
    module = PairwiseAffinity(6)
    assert module.key.bias is None
    assert module.query.bias is not None and module.value.bias is not None
    x = _maps(2, 6, 3, 4, seed=12)
    bias = _maps(6, seed=13, scale=5.)[None, :, None, None]
    query = module.query(x)
    torch.testing.assert_close(
        pairwise_affinity(query, module.key(x) + bias),
        module(x, materialize=True)[2])


def test_unary_affinity_module():
    torch.manual_seed(0)
    module = UnaryAffinity(5)
    assert module.score.out_channels == 1
    x = _maps(2, 5, 3, 3, seed=11)
    u = module(x)
    assert u.shape == (2, 9)
    torch.testing.assert_close(u.sum(1), torch.ones(2), rtol=0, atol=1e-5)
    # a score bias would shift every position alike: there is none
    assert module.score.bias is None
    torch.testing.assert_close(unary_affinity(module.score(x) + 7.), u)
    # a constant score map gives the uniform distribution
    torch.nn.init.zeros_(module.score.weight)
    torch.testing.assert_close(module(x), torch.full((2, 9), 1. / 9))
