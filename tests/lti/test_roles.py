from __future__ import annotations

import pytest

from credbridge.lti.launch.roles import tool_roles

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(("roles", "expected"), [
    ([LIS + "membership#Instructor"], ["instructor"]),
    ([LIS + "membership#Learner"], ["learner"]),
    (["Instructor"], ["instructor"]),
    (["Learner"], ["learner"]),
    (["urn:lti:role:ims/lis/Instructor"], ["instructor"]),
    (["urn:lti:role:ims/lis/Learner"], ["learner"]),
    ([LIS + "membership/Instructor#TeachingAssistant"], ["instructor"]),
    ([LIS + "membership#ContentDeveloper"], ["instructor"]),
    ([LIS + "system/person#Administrator", LIS + "institution/person#Administrator"], ["administrator"]),
    (["urn:lti:sysrole:ims/lis/Administrator"], ["administrator"]),
    ([LIS + "institution/person#Student"], ["learner"]),
    ([LIS + "institution/person#Faculty"], ["instructor"]),
    ([LIS + "membership#Instructor", LIS + "membership#Learner"], ["instructor", "learner"]),
    ([LIS + "membership#Mentor"], []),
    ([LIS + "membership#Wizard", "urn:example:role#Visitor", "Nobody", 42], []),
    ([], []),
])
def test_tool_roles(roles: list[object], expected: list[str]) -> None:
    assert tool_roles(roles) == expected
