"""Parts of the segmentation_gain task: the MONAI U-Net and its scores."""
