"""mnist-keras: a handwritten-digit classifier from training to the edge.

Submodules are imported on demand so that ``mnist-keras --help`` and the
TensorFlow-free parts (``preprocess``) stay fast and light.
"""

__version__ = "0.1.0"
