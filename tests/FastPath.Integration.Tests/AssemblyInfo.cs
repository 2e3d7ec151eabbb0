// SPDX-License-Identifier: MIT
using Xunit;

// These tests start pinned DPDK workers and replay real-time scenarios against the kernel: run them one at a
// time so they do not compete for the machine's cores (CI has two).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
