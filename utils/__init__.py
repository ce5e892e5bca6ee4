"""Helpers for the Softmax Regression Workbook, one job per module.

- `utils.data`: Fashion-MNIST, found, verified, kept in memory, served in fast mini-batches.
- `utils.plot`: image grids, probability bars, the live training plot, confusion matrix.
- `utils.train`: accuracy, evaluation, one epoch, the training loop, device choice.
- `utils.numpy_softmax`: softmax regression in NumPy with the hand-derived gradient (notebook 04b).
- `utils.doctor`: checks the set-up (``python -m utils.doctor``).

Notebooks write each idea out in full first, then import it from here in later notebooks.
"""
