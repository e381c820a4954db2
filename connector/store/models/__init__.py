"""Every table of credbridge, grouped by the area that owns it."""

from credbridge.connector.store.models.audit import AuditEntry, AuditLogIsAppendOnly
from credbridge.connector.store.models.catalogue import MappingFile, TemplateDefinition, UnitDefinition
from credbridge.connector.store.models.evidence import Evidence, SyncCursor, SyncRun
from credbridge.connector.store.models.issuance import AWARD_STATES, Award, Credential, OutboxItem, StatusList
from credbridge.connector.store.models.lms import (
    Activity,
    Course,
    CourseCompetency,
    Enrolment,
    GradeItem,
    Learner,
    LearnerIdentity,
    LmsConnection,
)
from credbridge.connector.store.models.lti import (
    LaunchSession,
    LtiDeployment,
    LtiLoginState,
    LtiRegistration,
    LtiUsedNonce,
    ResourceLinkTemplate,
    SigningKey,
)
from credbridge.connector.store.models.operations import SchedulerLease
from credbridge.connector.store.models.tenancy import AdminUser, School
from credbridge.connector.store.models.work import WorkItem

__all__ = [
    "AWARD_STATES", "Activity", "AdminUser", "AuditEntry", "AuditLogIsAppendOnly", "Award", "Course",
    "CourseCompetency", "Credential", "Enrolment", "Evidence", "GradeItem", "LaunchSession", "Learner",
    "LearnerIdentity", "LmsConnection", "LtiDeployment", "LtiLoginState", "LtiRegistration", "LtiUsedNonce",
    "MappingFile", "OutboxItem", "ResourceLinkTemplate", "SchedulerLease", "School", "SigningKey", "StatusList",
    "SyncCursor", "SyncRun", "TemplateDefinition", "UnitDefinition", "WorkItem",
]
