"""Catalogue export: ELM v3 JSON-LD validated with pySHACL against the EDC shapes that target its classes.

The EDC shapes are class-targeted (elm:Qualification, elm:LearningOpportunity, elm:Organisation,
elm:Accreditation, elm:CreditPoint, skos:Concept...), so they apply to a catalogue document as
well as to a credential; the CV shapes (EDC-generic-full) check every concept against its scheme.
"""

from __future__ import annotations

import copy
import json

import pyshacl
import pytest
import rdflib

from credbridge.mappings.catalogue import ELM_CONTEXT, catalogue
from tests.mappings.helpers import DATA

ELM = DATA / "standards" / "elm"
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
NS = rdflib.Namespace("http://data.europa.eu/snb/model/elm/")


@pytest.fixture(scope="module")
def shapes() -> rdflib.Graph:
    g = rdflib.Graph()
    for name in ("EDC-generic-no-cv.ttl", "EDC-generic-full.ttl"):
        g.parse(ELM / "shapes" / name, format="turtle")
    return g


def to_graph(doc: dict) -> rdflib.Graph:
    # the context URL is not reachable offline: parse with the shipped copy of the same context
    context = json.loads((ELM / "context" / "edc-ap-context.jsonld").read_text("utf-8"))["@context"]
    assert doc["@context"][0] == ELM_CONTEXT
    return rdflib.Graph().parse(data=json.dumps({**doc, "@context": [context, *doc["@context"][1:]]}),
                                format="json-ld")


def validate(doc: dict, shapes: rdflib.Graph) -> tuple[bool, str]:
    conforms, _, text = pyshacl.validate(to_graph(doc), shacl_graph=shapes, inference="none")
    return conforms, text


def test_example_catalogue_conforms(example_set, shapes):
    doc = catalogue(example_set)
    graph = to_graph(doc)
    quals = set(graph.subjects(rdflib.RDF.type, NS.Qualification))
    opps = set(graph.subjects(rdflib.RDF.type, NS.LearningOpportunity))
    assert len(quals) == 4 + 3 and len(opps) == 3
    conforms, text = validate(doc, shapes)
    assert conforms, text


def _node(doc, node_id):
    return next(n for n in doc["@graph"] if n["id"] == node_id)


def test_catalogue_content(example_set):
    doc = catalogue(example_set)
    cnc = _node(doc, "urn:credbridge:vet-college:template:CNC-OPERATOR:v1")
    assert cnc["eqfLevel"]["id"] == "http://data.europa.eu/snb/eqf/4"
    assert cnc["hasPart"] == ["urn:credbridge:vet-college:unit:CNC-PROG", "urn:credbridge:vet-college:unit:CNC-OPS",
                              "urn:credbridge:vet-college:template:TD-BASICS:v1"]
    assert [c["point"] for c in cnc["creditPoint"]] == ["4"]  # ECVET of all three units (TD-READ stacked in)
    assert any("5 CSVET credits" in n["noteLiteral"]["en"] for n in cnc["additionalNote"])
    assert cnc["volumeOfLearning"] == "PT100H"
    assert len(cnc["learningOutcome"]) == 3
    td = _node(doc, "urn:credbridge:vet-college:template:TD-BASICS:v1")
    assert td["isPartialQualification"] is True and len(td["isPartOf"]) == 2
    weld_opp = _node(doc, "urn:credbridge:vet-college:opportunity:WELD-SAFETY:v2")
    slovenian = _node(doc, weld_opp["providedBy"])
    assert slovenian["location"]["address"]["countryCode"]["id"].endswith("/SVN")


@pytest.mark.parametrize("breakage", ["no_title", "eqf_wrong_scheme", "opportunity_no_title", "org_no_name"])
def test_shapes_catch_broken_documents(example_set, shapes, breakage):
    doc = copy.deepcopy(catalogue(example_set))
    cnc = _node(doc, "urn:credbridge:vet-college:template:CNC-OPERATOR:v1")
    if breakage == "no_title":
        del cnc["title"]
    elif breakage == "eqf_wrong_scheme":
        # an ISCED-F concept where an EQF level belongs (concept IRIs merge in RDF, so use one
        # that no other node states to be in the EQF scheme)
        cnc["eqfLevel"] = copy.deepcopy(cnc["thematicArea"][0])
    elif breakage == "opportunity_no_title":
        del _node(doc, "urn:credbridge:vet-college:opportunity:CNC-OPERATOR:v1")["title"]
    else:
        del doc["@graph"][0]["legalName"]
    conforms, text = validate(doc, shapes)
    assert not conforms
    assert "Constraint Violation" in text
