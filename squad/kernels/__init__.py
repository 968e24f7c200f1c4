"""Kernels: sandboxed kernels for untrusted code and kernels started ahead of use.

- ``sandbox``: the isolation policy and kernel managers that apply it (``SandboxPolicy``,
  ``make_kernel_manager``, ``AsyncSandboxedKernelManager``, ``sandbox_capabilities``).
- ``pool``: a worker's pre-started kernels for sweeps (``worker_pool``, ``kill_kernel``).
- ``guard``: restores what student code may have patched before each test cell.
"""
