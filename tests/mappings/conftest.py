"""Fixtures for the mapping-layer tests."""

from __future__ import annotations

import pytest

from credbridge.mappings import load_mapping_file, resolve
from credbridge.mappings.structure import CourseStructure
from tests.mappings.helpers import EXAMPLES, recorded_site


@pytest.fixture(scope="session")
def site() -> CourseStructure:
    return recorded_site()


@pytest.fixture(scope="session")
def example_set():
    return load_mapping_file(EXAMPLES / "vet-college.yaml")


@pytest.fixture(scope="session")
def resolved(example_set, site):
    return resolve(example_set, site)
