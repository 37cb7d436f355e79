# SynthVOC (VOC layout, 21 classes, 256x256 images, train 3000 / val 500):
# the shared layout's sizes, plus off-the-shelf saliency maps.
# data_root is relative to the repository root; override it for other setups.
_base_ = ['./wsss_voc_layout.py']
data_root = '../shared/data/synthvoc'
train_dataloader = dict(
    dataset=dict(data_root=data_root, saliency_dir='SaliencyMaps'))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
