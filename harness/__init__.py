"""Real processes, fakes and fault tools that tests and benchmarks drive on loopback."""
