"""Evidence from outside Moodle's web services: result sheets (CSV/XLSX) and LTI AGS results."""
