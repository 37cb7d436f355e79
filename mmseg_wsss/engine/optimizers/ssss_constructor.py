"""The four learning-rate / weight-decay groups of SSSS and WS-FCN."""
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: Group names, in the order of ``lr_mults``.
GROUPS = ('pretrained_weight', 'pretrained_bias', 'new_weight', 'new_bias')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SSSSOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Pretrained / new layers x weights / biases (wsfcn.md 3 and 5).

    Four parameter groups as in the official SSSS / WS-FCN code:

    ============================  ==========  ============
    group                         lr          weight decay
    ============================  ==========  ============
    pretrained weights            lr x 1      wd
    pretrained biases             lr x 2      0
    new weights (incl. norm)      lr x 20     wd
    new biases (incl. norm)       lr x 40     0
    ============================  ==========  ============

    A parameter is new if its name starts with one of ``new_prefixes`` (as
    whole name components: ``'decode_head'`` matches ``decode_head.conv``,
    not ``decode_head2.conv``), and a bias if its last name component is
    ``bias``. mmengine's default constructor cannot express this: it skips
    ``bias_lr_mult`` / ``bias_decay_mult`` for parameters matched by
    ``custom_keys``, so ``custom_keys={'decode_head': dict(lr_mult=20.)}``
    gives the new biases lr x 20 with weight decay.

    Parameters with ``requires_grad=False`` (frozen backbone stages) are in
    no group, and empty groups are left out.

    Example:
        >>> optim_wrapper = dict(
        ...     type='OptimWrapper',
        ...     optimizer=dict(type='SGD', lr=1e-3, momentum=0.9,
        ...                    weight_decay=5e-4),
        ...     constructor='SSSSOptimWrapperConstructor',
        ...     paramwise_cfg=dict(new_prefixes=('decode_head', )))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, with
            ``optimizer.lr``; ``optimizer.weight_decay`` is the decay of the
            weight groups (none if absent).
        paramwise_cfg (dict, optional): ``new_prefixes`` (str or sequence
            of str, default ``('decode_head', )``) and ``lr_mults`` (four
            numbers in the order of the table, default ``(1, 2, 20, 40)``).

    Raises:
        ValueError: On an unknown ``paramwise_cfg`` key, ``lr_mults`` not
            four values >= 0, empty ``new_prefixes``, no ``optimizer.lr``,
            or (when building) ``new_prefixes`` matching no trainable
            parameter.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        unknown = set(self.paramwise_cfg) - {'new_prefixes', 'lr_mults'}
        if unknown:
            raise ValueError('SSSSOptimWrapperConstructor: unknown '
                             f'paramwise_cfg keys {sorted(unknown)}')
        new_prefixes = self.paramwise_cfg.get('new_prefixes',
                                              ('decode_head', ))
        if isinstance(new_prefixes, str):
            new_prefixes = (new_prefixes, )
        if not new_prefixes:
            raise ValueError('SSSSOptimWrapperConstructor: new_prefixes is '
                             'empty')
        lr_mults = tuple(self.paramwise_cfg.get('lr_mults', (1, 2, 20, 40)))
        if len(lr_mults) != len(GROUPS) or any(m < 0 for m in lr_mults):
            raise ValueError('SSSSOptimWrapperConstructor: lr_mults needs '
                             f'{len(GROUPS)} values >= 0 {GROUPS}, got '
                             f'{lr_mults}')
        if self.base_lr is None:
            raise ValueError('SSSSOptimWrapperConstructor: optimizer.lr is '
                             'not set')
        # never empty: the base __call__ would skip add_params otherwise
        self.paramwise_cfg = dict(
            new_prefixes=tuple(new_prefixes), lr_mults=lr_mults)

    def _is_new(self, name: str) -> bool:
        return any(name == p or name.startswith(p + '.')
                   for p in self.paramwise_cfg['new_prefixes'])

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[float] = None) -> None:
        """Append the non-empty groups of ``module``'s trainable parameters
        to ``params``.

        Args:
            params (list[dict]): Param groups, extended in place.
            module (nn.Module): The model.
            prefix (str): Prefix of ``module``'s parameter names.
            is_dcn_module (float, optional): Unused (no DCN rules here).
        """
        groups: Tuple[list, ...] = tuple([] for _ in GROUPS)
        for name, param in module.named_parameters(prefix=prefix):
            if not param.requires_grad:
                continue
            is_bias = name.rsplit('.', 1)[-1] == 'bias'
            groups[2 * self._is_new(name) + is_bias].append(param)
        if not groups[2] and not groups[3]:
            names = sorted(
                {n.split('.')[0]
                 for n, _ in module.named_parameters()})
            raise ValueError(
                'SSSSOptimWrapperConstructor: new_prefixes '
                f"{self.paramwise_cfg['new_prefixes']} match no trainable "
                'parameter (the new layers would train at the pretrained '
                f'rates); top-level names: {names}')
        for group_name, group, lr_mult in zip(
                GROUPS, groups, self.paramwise_cfg['lr_mults']):
            if not group:
                continue
            param_group = dict(params=group, lr=self.base_lr * lr_mult)
            if group_name.endswith('bias'):
                param_group['weight_decay'] = 0.
            elif self.base_wd is not None:
                param_group['weight_decay'] = self.base_wd
            params.append(param_group)
            print_log(
                f'{group_name}: {len(group)} tensors, lr x {lr_mult}',
                logger='current')
