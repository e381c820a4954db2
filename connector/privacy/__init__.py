"""Data protection: what credbridge holds about one learner, erasing it on request, and retention.

* :mod:`.export` — everything about one learner as one JSON document (GDPR art. 15 and 20):
  ``credbridge learners export`` and the console's operations page.
* :mod:`.erase` — erasure on request (art. 17): personal data deleted or pseudonymised, the credentials
  already issued stay valid for their holder (signature and status list are untouched, so the school can
  still revoke), and the audit log records the erasure without repeating the data.
* :mod:`.retention` — the daily pass that deletes what is kept only for a while (sync history, finished
  work items, superseded evidence versions, expired sessions), queued by the scheduler leader.

The privacy note for schools is in the README (section *Privacy*).
"""
