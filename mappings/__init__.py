"""credbridge.mappings — the pure domain: units, micro-credential templates, evidence rules, evaluation.

The names below are the public API (keep them stable); README.md in this folder describes them.
"""

from credbridge.mappings import vocab
from credbridge.mappings.completeness import MissingElement, completeness
from credbridge.mappings.errors import MappingError, Problem
from credbridge.mappings.evaluate import (
    AchievedUnit,
    EarnedTemplate,
    LearnerEvaluation,
    Regression,
    ResolvedMappings,
    TemplateAnnex,
    evaluate,
    resolve,
)
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind
from credbridge.mappings.loader import (
    diff,
    dump_mapping,
    json_schema,
    load_mapping_file,
    load_mapping_text,
    warnings_of,
)
from credbridge.mappings.model import MappingSet, School, Template, Unit
from credbridge.mappings.national import NationalFinding, national_check
from credbridge.mappings.structure import Activity, CompetencyRef, Course, CourseStructure, GradeItem

__all__ = [
    "AchievedUnit",
    "Activity",
    "CompetencyRef",
    "Course",
    "CourseStructure",
    "EarnedTemplate",
    "EvidenceFact",
    "EvidenceKind",
    "GradeItem",
    "LearnerEvaluation",
    "MappingError",
    "MappingSet",
    "MissingElement",
    "NationalFinding",
    "Problem",
    "Regression",
    "ResolvedMappings",
    "School",
    "Template",
    "TemplateAnnex",
    "Unit",
    "completeness",
    "diff",
    "dump_mapping",
    "evaluate",
    "json_schema",
    "load_mapping_file",
    "load_mapping_text",
    "national_check",
    "resolve",
    "vocab",
    "warnings_of",
]
