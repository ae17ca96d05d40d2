"""Private helpers of the classifier_gain task: classifier models, fold scores, augmentation."""
