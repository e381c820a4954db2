"""LTI Advantage services called by the tool: OAuth2 client-credentials tokens, Names and Role
Provisioning (NRPS) and Assignment and Grade Services (AGS), shaped by what Moodle 4.5 answers."""

from credbridge.connector.lti_services.ags import Ags, Score
from credbridge.connector.lti_services.client import ServiceClient
from credbridge.connector.lti_services.errors import ServiceError, TokenError
from credbridge.connector.lti_services.links import next_link
from credbridge.connector.lti_services.nrps import Memberships, fetch_memberships
from credbridge.connector.lti_services.registry import PlatformServices

__all__ = ["Ags", "Memberships", "PlatformServices", "Score", "ServiceClient", "ServiceError", "TokenError",
           "fetch_memberships", "next_link"]
