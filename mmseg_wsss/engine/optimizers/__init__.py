from .ssss_constructor import SSSSOptimWrapperConstructor

__all__ = ['SSSSOptimWrapperConstructor']
