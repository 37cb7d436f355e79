# The CAM-baseline segmenter under the optimiser of CoSA's official code
# (AdamW, lr 6e-5, weight decay 0.01, the decoder at 10x; the protocol's
# poly schedule), so that CoSA's row compares like with like
# (docs/benchmarks.md, protocol rule 2).
_base_ = ['./largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py']
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        weight_decay=0.01))
