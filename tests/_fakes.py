"""Test doubles shared by the metric tests."""


class FakeTensor:
    """Stands in for a (CUDA) torch tensor: only .detach().cpu().numpy() is used, and importing
    torch would cost seconds of test time."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a
