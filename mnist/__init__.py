"""A sub-20k-parameter MNIST CNN trained fast on a CPU: `python -m mnist.train`."""
