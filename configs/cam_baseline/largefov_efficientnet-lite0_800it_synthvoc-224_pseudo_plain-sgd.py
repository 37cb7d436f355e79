# The CAM-baseline segmenter under the optimiser of AuxSegNet(+)'s official
# code (plain SGD: momentum 0, no weight decay; the protocol's learning
# rates), so that the methods' table compares like with like
# (docs/benchmarks.md, protocol rule 2).
_base_ = ['./largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py']
optim_wrapper = dict(optimizer=dict(momentum=0., weight_decay=0.))
