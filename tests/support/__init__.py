"""What several test files share: generated runs, classes, browsers, hub clients, waiting."""
