import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    """Read a requirements file, skipping comments and blank lines."""
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def get_version() -> str:
    scope: dict = {}
    with open(osp.join('mmseg_wsss', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmseg_wsss',
    version=get_version(),
    description='Weakly supervised semantic segmentation for MMSegmentation',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.8',
    install_requires=['torch>=2.0'] + read_requirements('runtime.txt'),
    extras_require=dict(
        lite=read_requirements('mmcv_lite.txt'),
        full=['mmcv==2.1.0'],
        optional=read_requirements('optional.txt'),
        tests=read_requirements('tests.txt'),
    ),
    license='Apache License 2.0',
    zip_safe=False,
)
