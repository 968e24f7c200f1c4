"""The kit's tests: a package, so that test modules are named by their folder."""
