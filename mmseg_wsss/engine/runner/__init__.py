from .stagewise_train_loop import SkipSampler, StagewiseTrainLoop

__all__ = ['SkipSampler', 'StagewiseTrainLoop']
