from .common_class_pair_sampler import (CommonClassPairSampler,
                                        InfiniteCommonClassPairSampler,
                                        check_group_batch_size,
                                        common_class_groups, random_groups,
                                        read_img_labels)

__all__ = [
    'CommonClassPairSampler', 'InfiniteCommonClassPairSampler',
    'check_group_batch_size', 'common_class_groups', 'random_groups',
    'read_img_labels'
]
