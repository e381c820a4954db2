"""Sync: read Moodle (and other sources) into versioned evidence, incrementally and crash-safely."""
