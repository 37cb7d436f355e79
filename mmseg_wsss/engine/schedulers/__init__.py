from .stagewise_poly import StagewisePolyLR, StagewisePolyParamScheduler

__all__ = ['StagewisePolyLR', 'StagewisePolyParamScheduler']
